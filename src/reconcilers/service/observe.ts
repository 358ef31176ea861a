import { createHmac } from 'node:crypto';
import { resolve } from 'node:path';
import { hashBuildContext } from '../../adapters/docker/build-context.js';
import type { DockerClients } from '../../adapters/docker/index.js';
import { LABEL_CONTEXT_HASH, LABEL_SERVICE, type ContainerDetails } from '../../adapters/docker-types.js';
import type { DesiredState } from '../../manifests/desired-state.js';
import type { ServiceReload, ServiceSpec } from '../../manifests/kinds/service.js';
import type { Resource } from '../../manifests/resource.js';
import { resolveValue, type SecretSource } from '../../manifests/secrets.js';
import type { DurableState } from '../../state/durable-state.js';
import type { Ownership } from '../ownership.js';
import { volumeDockerName } from '../volume/volume-names.js';
import type { ContainerFacts } from './container-spec.js';
import { followerLinks } from './follower-links.js';
import { digestsOf, inodesOf, MOUNTS_SECTION, type MountedContents, readMountedContents } from './mounted-files.js';
import { reloadCommand } from './reload.js';
import { NO_RESTARTS, type RestartRecord } from './restart-backoff.js';
import { ROLLOUT_SECTION, type RolloutState } from './rollout-record.js';
import type { ServiceHold, ServiceHolds } from '../../state/service-holds.js';

/** The state sections the Service reconciler keeps (crash-loop backoff, what it last created). */
export const RESTARTS_SECTION = 'restarts';
export const CREATED_SECTION = 'created';

export interface ImageObservation {
  /** The id the tag points at, undefined when the engine does not have it. */
  id: string | undefined;
  /** With `build`: the hash of the build context on disk now, and the one the image was built from. */
  contextHash?: string;
  builtFromContext?: string;
  /** When the agent last pulled or built this tag (pullPolicy Always refreshes at most this often). */
  refreshedAt?: number;
}

export interface DependencyObservation {
  service: string;
  condition: 'started' | 'healthy';
  satisfied: boolean;
}

/** Everything a Service plan needs, read in one place; plain data. */
export interface ServiceObservation {
  /** Every container this agent owns for the service, in any state. */
  containers: ContainerDetails[];
  /** Only when the service is declared. */
  declared?: {
    facts: ContainerFacts;
    image: ImageObservation;
    missingNetworks: string[];
    missingVolumes: string[];
    dependencies: DependencyObservation[];
    restarts: RestartRecord;
    /** The spec hash the agent last created a container for (a missing container was then removed behind its back). */
    createdHash: string | undefined;
    /** The rollout in progress, or the last one that failed. */
    rollout: RolloutState | undefined;
    /** What the bind-mounted files from the manifests folder hold now, and what the container was given. */
    mounted: MountedContents;
    mountedGiven: MountedContents | undefined;
    /** Another process stopped the service on purpose (a restore): it is left alone meanwhile. */
    held?: ServiceHold;
  };
  /** Services that depend on this one and declare a reload: told when it moves to a new container. */
  followers: Follower[];
}

export interface Follower {
  service: string;
  reload: string[];
}

export interface ServiceObserverDeps {
  docker: Pick<DockerClients, 'containers' | 'images' | 'networks' | 'volumes'>;
  own: Ownership;
  secrets: SecretSource;
  state: DurableState;
  /** When each image tag was last refreshed by this agent process. */
  refreshedAt: ReadonlyMap<string, number>;
  holds?: ServiceHolds;
}

/** Reads the containers of `name` and, when it is declared, every fact its plan depends on. No effects. */
export async function observeService(deps: ServiceObserverDeps, name: string, desired: DesiredState): Promise<ServiceObservation> {
  const svc = desired.get('Service', name);
  const { docker, own } = deps;
  const summaries = await docker.containers.list(own.selector({ [LABEL_SERVICE]: name }));
  const containers = (await Promise.all(summaries.map((s) => docker.containers.inspect(s.id)))).filter((c): c is ContainerDetails => !!c);
  const followers = desired
    .list('Service')
    .filter((s) => s.spec.reload && s.spec.dependsOn.some((d) => d.service === name))
    .map((s) => ({ service: s.name, reload: reloadCommand(s.spec.reload as ServiceReload) }));
  if (!svc) return { containers, followers };

  const volumeNames = Object.fromEntries(svc.spec.volumes.filter((v) => v.type === 'volume').map((v) => [v.source, volumeDockerName(own, desired, v.source)]));
  const [image, missingNetworks, missingVolumes, dependencies, mounted] = await Promise.all([
    observeImage(deps, svc),
    missingNames(svc.spec.networks.map((n) => n.name), async (n) => !!(await docker.networks.inspect(own.dockerName(n)))),
    // Mounting a missing volume would make Docker create an empty one under that name, which for
    // an external volume looks like lost data: the service waits for it instead.
    missingNames(Object.keys(volumeNames), async (v) => docker.volumes.exists(volumeNames[v] as string)),
    Promise.all(
      svc.spec.dependsOn.map(async (d) => {
        const c = await docker.containers.inspect(own.dockerName(d.service));
        return { ...d, satisfied: !!c && own.owns(c.labels) && c.running && (d.condition === 'started' || c.health === 'healthy') };
      }),
    ),
    readMountedContents(svc),
  ]);
  const held = deps.holds?.heldBy(name);
  return {
    containers,
    declared: {
      facts: {
        imageId: image.id,
        secretDigests: secretDigests(svc, deps.secrets, deps.state.hashKey),
        // Only external volumes differ from the agent's own names; leaving the rest out keeps hashes as they were.
        volumeNames: Object.fromEntries(Object.entries(volumeNames).filter(([v, real]) => real !== own.dockerName(v))),
        links: followerLinks(svc, desired, own),
        // With a reload, a content change reloads in place; without one it is a change of the spec.
        ...(svc.spec.reload ? { mountedInodes: inodesOf(mounted) } : { mountedContent: digestsOf(mounted) }),
      },
      image,
      missingNetworks,
      missingVolumes,
      dependencies,
      restarts: deps.state.get<RestartRecord>(RESTARTS_SECTION, name) ?? NO_RESTARTS,
      createdHash: deps.state.get<string>(CREATED_SECTION, name),
      rollout: deps.state.get<RolloutState>(ROLLOUT_SECTION, name),
      mounted,
      mountedGiven: deps.state.get<MountedContents>(MOUNTS_SECTION, name),
      ...(held ? { held } : {}),
    },
    followers,
  };
}

async function observeImage(deps: ServiceObserverDeps, svc: Resource<ServiceSpec>): Promise<ImageObservation> {
  const { image, build } = svc.spec;
  const id = await deps.docker.images.id(image);
  const refreshedAt = deps.refreshedAt.get(image);
  const base = { id, ...(refreshedAt !== undefined ? { refreshedAt } : {}) };
  if (!build) return base;
  const [contextHash, labels] = await Promise.all([hashBuildContext(resolve(svc.source.dir, build.context)), id ? deps.docker.images.labels(image) : undefined]);
  const builtFromContext = labels?.[LABEL_CONTEXT_HASH];
  return { ...base, contextHash, ...(builtFromContext ? { builtFromContext } : {}) };
}

async function missingNames(names: string[], exists: (name: string) => Promise<boolean>): Promise<string[]> {
  const found = await Promise.all(names.map(exists));
  return names.filter((_, i) => !found[i]);
}

/**
 * An HMAC of each secret-valued env var under the per-host key. The values themselves are read
 * again when a container is created; only these digests leave observe.
 */
function secretDigests(svc: Resource<ServiceSpec>, secrets: SecretSource, key: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(svc.spec.env)) {
    if (typeof value === 'string') continue;
    let resolved: string;
    try {
      resolved = resolveValue(value, secrets, svc.source.dir);
    } catch (err) {
      throw new Error(`env ${name}: ${(err as Error).message}`);
    }
    out[name] = createHmac('sha256', key).update(resolved).digest('hex');
  }
  return out;
}
