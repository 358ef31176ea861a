import type { VolumeSpec } from '../../manifests/kinds/volume.js';
import type { Resource } from '../../manifests/resource.js';

export interface VolumeObservation {
  /** The Docker name the volume has or gets (`<instance>-<name>`). */
  dockerName: string;
  exists: boolean;
  /** Made outside the agent and mounted by its real name: never created or removed, only checked. */
  external?: boolean;
}

export type VolumeAction =
  | { action: 'create'; reason: string; labels: Readonly<Record<string, string>> }
  /** An undeclared volume is data, not the agent's to drop: it is only reported. */
  | { action: 'note'; reason: string }
  /** An external volume that does not exist: only its owner can create it. */
  | { action: 'wait'; reason: string; retryAfterMs: number };

/** How often to look again for a missing external volume. */
export const EXTERNAL_POLL_MS = 10_000;

/** Declared volumes exist; undeclared ones are never deleted, only reported as orphaned. */
export function plan(desired: Resource<VolumeSpec> | undefined, observed: VolumeObservation): VolumeAction[] {
  if (desired?.spec.external) {
    return observed.exists ? [] : [{ action: 'wait', retryAfterMs: EXTERNAL_POLL_MS, reason: `external volume ${observed.dockerName} does not exist; create it with: docker volume create ${observed.dockerName}` }];
  }
  if (desired) return observed.exists ? [] : [{ action: 'create', labels: desired.spec.labels, reason: 'not created yet' }];
  return observed.exists ? [{ action: 'note', reason: `no longer declared; kept (volumes are never deleted automatically). Remove by hand with: docker volume rm ${observed.dockerName}` }] : [];
}
