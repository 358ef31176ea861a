import { PersistentVolumeClaim } from 'kubernetes-models/v1';
import type { ExportContext } from './context.js';
import { validLabels } from './labels.js';
import { kubeName } from './names.js';
import { quantity } from './units.js';

/** What a Volume without `size` asks for. */
export const DEFAULT_VOLUME_BYTES = 10 * 1024 ** 3;

/**
 * A Volume is a PersistentVolumeClaim. ReadWriteOnce is what EBS (and most block storage) offers,
 * and matches a Docker volume on one host: whoever shares it must run on the same node.
 */
export function exportVolumes(ctx: ExportContext): void {
  for (const vol of ctx.state.list('Volume')) {
    const name = ctx.claim('PersistentVolumeClaim', kubeName(vol.name), vol);
    if (name === undefined) continue;
    const labels = { ...validLabels(ctx, vol, vol.labels), ...validLabels(ctx, vol, vol.spec.labels) };
    if (vol.spec.external)
      ctx.warn(vol, `made outside the agent (Docker volume ${vol.spec.name ?? vol.name}): claim ${name} is a new, empty volume; bind it to an existing PersistentVolume (spec.volumeName in an overlay) or restore its data`);
    ctx.add(
      vol,
      new PersistentVolumeClaim({
        metadata: { name, ...(Object.keys(labels).length > 0 ? { labels } : {}) },
        spec: {
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: quantity(vol.spec.size ?? DEFAULT_VOLUME_BYTES) } },
          ...(ctx.options.storageClass ? { storageClassName: ctx.options.storageClass } : {}),
        },
      }),
    );
  }
}
