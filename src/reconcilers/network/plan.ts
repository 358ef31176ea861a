import type { NetworkInfo } from '../../adapters/docker/index.js';
import type { FieldChange } from '../../engine/reconcile.js';
import type { NetworkSpec } from '../../manifests/kinds/network.js';
import type { Resource } from '../../manifests/resource.js';

/** A container to put back on a network that was recreated under it. */
export interface Reconnect {
  containerId: string;
  aliases: string[];
  /** Absent in records written before links were kept. */
  links?: string[];
}

export interface NetworkObservation {
  /** The Docker name the network has or gets (`<instance>-<name>`). */
  dockerName: string;
  /** Docker's networks with this agent's labels for the name (more than one only after a crash mid-create). */
  networks: NetworkInfo[];
  /** Containers taken off the network by a recreate that has not finished (persisted across restarts). */
  pendingReconnects: Reconnect[];
}

export type NetworkAction =
  | { action: 'create'; reason: string; internal: boolean; labels: Readonly<Record<string, string>> }
  | { action: 'remove'; reason: string; networkId: string }
  /** `internal` cannot change on an existing network: take its containers off, make it anew, put them back. */
  | { action: 'recreate'; reason: string; networkId: string; attached: readonly { id: string; name: string }[]; internal: boolean; labels: Readonly<Record<string, string>>; changes: readonly FieldChange[] }
  | { action: 'update'; reason: string; reconnect: readonly Reconnect[] }
  | { action: 'wait'; reason: string; retryAfterMs: number };

/** How often to look again at an undeclared network that containers still use. */
export const DRAIN_POLL_MS = 2000;

/**
 * Declared networks exist with the declared `internal` flag; undeclared ones are removed once no
 * container uses them; duplicates a crash left behind are removed when empty.
 */
export function plan(desired: Resource<NetworkSpec> | undefined, observed: NetworkObservation): NetworkAction[] {
  const { networks, dockerName } = observed;
  if (!desired) {
    const busy = networks.find((n) => n.containers > 0);
    if (busy) return [{ action: 'wait', reason: `no longer declared; removed once its ${busy.containers} container(s) are gone`, retryAfterMs: DRAIN_POLL_MS }];
    return networks.map((n) => ({ action: 'remove', networkId: n.id, reason: 'no longer declared' }));
  }
  const labels = desired.spec.labels;
  const internal = desired.spec.internal;
  // Keep the one in use (or the first); empty duplicates go so the name is unambiguous.
  const keep = networks.find((n) => n.containers > 0) ?? networks[0];
  const actions: NetworkAction[] = networks.filter((n) => n !== keep && n.containers === 0).map((n) => ({ action: 'remove', networkId: n.id, reason: `duplicate network ${dockerName}` }));
  if (!keep) {
    actions.push({ action: 'create', internal, labels, reason: 'not created yet' });
  } else if (keep.internal !== internal) {
    const changes = [{ path: 'spec.internal', from: JSON.stringify(keep.internal), to: JSON.stringify(internal) }];
    const who = keep.attached.length > 0 ? `; reconnects ${keep.attached.map((c) => c.name).join(', ')}` : '';
    actions.push({ action: 'recreate', networkId: keep.id, attached: keep.attached, internal, labels, changes, reason: `internal cannot change on an existing network${who}` });
  }
  if (observed.pendingReconnects.length > 0) {
    actions.push({ action: 'update', reconnect: observed.pendingReconnects, reason: `reconnect ${observed.pendingReconnects.length} container(s) taken off by the last recreate` });
  }
  return actions;
}
