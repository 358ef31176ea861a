import type { ContainerClient } from '../adapters/docker/index.js';
import { LABEL_JOB, LABEL_SERVICE, type ContainerSummary } from '../adapters/docker-types.js';
import type { Ownership } from '../reconcilers/ownership.js';

/**
 * The containers of a Service as an operator sees them: the one serving under its name, and,
 * during a StartFirst rollout, the new one beside it (not the one-off job containers of
 * schedules that exec into it). The serving one first.
 */
export async function serviceContainers(containers: Pick<ContainerClient, 'list'>, own: Ownership, service: string): Promise<ContainerSummary[]> {
  const serving = own.dockerName(service);
  const list = (await containers.list(own.selector({ [LABEL_SERVICE]: service }))).filter((c) => c.labels[LABEL_JOB] === undefined);
  return list.sort((a, b) => (a.name === serving ? -1 : b.name === serving ? 1 : a.name < b.name ? -1 : 1));
}

/** Service names as a route takes them (the manifest's name rule). */
export const SERVICE_NAME = /^[a-z0-9][-a-z0-9_]*$/;
