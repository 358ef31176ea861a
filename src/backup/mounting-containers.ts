import { isAbsolute, relative } from 'node:path';
import type { ContainerDetails, ContainerMount } from '../adapters/docker-types.js';
import type { ContainerClient } from '../adapters/docker/index.js';
import type { Ownership } from '../reconcilers/ownership.js';

/** What a restore writes on the host: a Docker volume (by its engine name) or a host path. */
export type MountTarget = { volume: string } | { path: string };

/** Whether `inner` is `outer` or lies inside it. */
const within = (inner: string, outer: string): boolean => {
  const rel = relative(outer, inner);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

/** A mount sees what the restore writes: the same volume, or a bind of the path, of a folder inside it, or of a folder around it. */
export function mountsTarget(m: ContainerMount, target: MountTarget): boolean {
  if ('volume' in target) return m.type === 'volume' && m.name === target.volume;
  return m.type === 'bind' && (within(m.source, target.path) || within(target.path, m.source));
}

/** Every container of this agent instance (any state) that mounts `target`. */
export async function ownedContainersMounting(containers: ContainerClient, own: Ownership, target: MountTarget): Promise<ContainerDetails[]> {
  const all = await Promise.all((await containers.list(own.selector())).map((c) => containers.inspect(c.id)));
  return all.filter((c): c is ContainerDetails => !!c && c.mounts.some((m) => mountsTarget(m, target)));
}
