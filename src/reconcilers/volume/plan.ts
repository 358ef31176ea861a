import type { VolumeSpec } from '../../manifests/kinds/volume.js';
import type { Resource } from '../../manifests/resource.js';

export interface VolumeObservation {
  /** The Docker name the volume has or gets (`<instance>-<name>`). */
  dockerName: string;
  exists: boolean;
}

export type VolumeAction =
  | { action: 'create'; reason: string; labels: Readonly<Record<string, string>> }
  /** An undeclared volume is data, not the agent's to drop: it is only reported. */
  | { action: 'note'; reason: string };

/** Declared volumes exist; undeclared ones are never deleted, only reported as orphaned. */
export function plan(desired: Resource<VolumeSpec> | undefined, observed: VolumeObservation): VolumeAction[] {
  if (desired) return observed.exists ? [] : [{ action: 'create', labels: desired.spec.labels, reason: 'not created yet' }];
  return observed.exists ? [{ action: 'note', reason: `no longer declared; kept (volumes are never deleted automatically). Remove by hand with: docker volume rm ${observed.dockerName}` }] : [];
}
