import type { DesiredState } from '../../manifests/desired-state.js';
import type { Ownership } from '../ownership.js';

/**
 * The Docker name a declared volume is mounted by: an external volume's real name (it was made
 * outside the agent, e.g. by `docker volume create` or compose), else the agent's own
 * `<instance>-<name>`.
 */
export function volumeDockerName(own: Ownership, desired: DesiredState, name: string): string {
  const spec = desired.get('Volume', name)?.spec;
  return spec?.external ? (spec.name ?? name) : own.dockerName(name);
}
