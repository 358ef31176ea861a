import type { DesiredState } from '../../manifests/desired-state.js';
import type { ServiceSpec } from '../../manifests/kinds/service.js';
import type { Resource } from '../../manifests/resource.js';
import type { Ownership } from '../ownership.js';

/**
 * The links a follower (a Service with a reload) gets on each network it shares with a service it
 * depends on: that service's name and aliases there, pointing at the container that holds the
 * service's Docker name. Docker's DNS answers a link for this container only and ahead of the
 * network-wide aliases, so while a rollout drains the old container under another name, a reload
 * of the follower resolves the new one alone; the alias still answers both for everyone else.
 */
export function followerLinks(svc: Resource<ServiceSpec>, desired: DesiredState, own: Ownership): Record<string, string[]> {
  if (!svc.spec.reload) return {};
  const out: Record<string, string[]> = {};
  for (const net of svc.spec.networks) {
    const links = new Set<string>();
    for (const dep of svc.spec.dependsOn) {
      const followed = desired.get('Service', dep.service);
      const shared = followed?.spec.networks.find((n) => n.name === net.name);
      if (!followed || !shared) continue;
      for (const name of [followed.name, ...shared.aliases]) links.add(`${own.dockerName(followed.name)}:${name}`);
    }
    if (links.size > 0) out[net.name] = [...links].sort();
  }
  return out;
}
