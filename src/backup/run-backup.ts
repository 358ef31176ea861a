import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import type { BackupDestination } from './destination.js';
import { type BackupManifest, backupDir, MANIFEST_FORMAT, MANIFEST_NAME, type ManifestObject, newBackupId } from './backup-descriptor.js';
import { BackupStepError, type StreamProgress, streamToDestination } from './pipeline.js';
import type { PreparedSource } from './sources.js';

export interface BackupProgress extends StreamProgress {
  /** The object being written now. */
  object: string;
  /** 1-based index of the source being streamed, out of `sources`. */
  index: number;
  sources: number;
  /** Stored bytes of the objects already finished. */
  doneBytes: number;
}

export interface RunBackupOptions {
  name: string;
  prefix: string;
  destination: BackupDestination;
  sources: readonly PreparedSource[];
  agentVersion: string;
  now: () => Date;
  signal: AbortSignal;
  trigger?: string;
  onProgress?: (p: BackupProgress) => void;
  /** Called with the id as soon as it is chosen, before any byte is written. */
  onStart?: (id: string) => void;
}

export interface BackupOutcome {
  id: string;
  manifest: BackupManifest;
  /** Stored bytes, manifest excluded. */
  bytes: number;
  durationMs: number;
}

/**
 * One backup: every source streamed to `<prefix>/<name>/<id>/<object>` in turn, then manifest.json
 * written LAST. A backup whose run failed has no manifest, so it never counts as good; nothing is
 * deleted here (a failed run's objects are cleaned up by retention once they are a day old).
 * Errors are BackupStepErrors naming the step: dump, upload or manifest.
 */
export async function runBackup(opts: RunBackupOptions): Promise<BackupOutcome> {
  const started = opts.now();
  const id = newBackupId(started);
  opts.onStart?.(id);
  const dir = backupDir(opts.prefix, opts.name, id);
  const objects: ManifestObject[] = [];
  let doneBytes = 0;
  let pgDumpVersion: string | undefined;

  for (const [i, src] of opts.sources.entries()) {
    if (src.toolVersion && pgDumpVersion === undefined) {
      pgDumpVersion = await src.toolVersion().catch(() => undefined);
    }
    const res = await streamToDestination({
      produce: src.produce,
      destination: opts.destination,
      key: `${dir}${src.name}`,
      ...(src.gzipLevel !== undefined ? { gzipLevel: src.gzipLevel } : {}),
      contentType: src.contentType,
      signal: opts.signal,
      onProgress: (p) => opts.onProgress?.({ ...p, object: src.name, index: i + 1, sources: opts.sources.length, doneBytes }),
    }).catch((err: unknown) => {
      const e = err as BackupStepError;
      throw new BackupStepError(e.step ?? 'dump', `${src.name}: ${e.message.replace(/^(dump|upload) failed: /, '')}`, { cause: err });
    });
    doneBytes += res.bytes;
    objects.push({
      name: src.name,
      source: src.info,
      bytes: res.bytes,
      sha256: res.sha256,
      rawBytes: res.rawBytes,
      compression: src.compression,
      warnings: [...src.warnings],
    });
  }

  const finished = opts.now();
  const manifest: BackupManifest = {
    format: MANIFEST_FORMAT,
    backup: opts.name,
    id,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    hostname: hostname(),
    agentVersion: opts.agentVersion,
    ...(pgDumpVersion ? { pgDumpVersion } : {}),
    ...(opts.trigger ? { trigger: opts.trigger } : {}),
    objects,
  };
  try {
    await opts.destination.put(`${dir}${MANIFEST_NAME}`, Readable.from([Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)]), {
      contentType: 'application/json',
      signal: opts.signal,
    });
  } catch (err) {
    throw new BackupStepError('manifest', `${MANIFEST_NAME}: ${(err as Error).message}`, { cause: err });
  }
  return { id, manifest, bytes: doneBytes, durationMs: finished.getTime() - started.getTime() };
}
