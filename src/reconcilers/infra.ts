import { LABEL_NETWORK, LABEL_VOLUME } from '../adapters/docker-types.js';
import type { DockerClients } from '../adapters/docker/index.js';
import type { DesiredState } from '../manifests/desired-state.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import type { Ownership } from './ownership.js';
import { volumeDockerName } from './volume-names.js';

/**
 * Networks and volumes are created on demand by whichever reconcile needs them first (a Service
 * cannot start without its network), so the order in which keys run never matters. Docker does not
 * reliably refuse a second network with the same name, so creation is serialised per name here and
 * duplicates left by a crash are cleaned up.
 */
export class DockerInfra {
  private readonly locks = new KeyedMutex();

  constructor(
    private readonly docker: DockerClients,
    private readonly own: Ownership,
  ) {}

  ensureNetwork(desired: DesiredState, name: string): Promise<void> {
    return this.locks.run(`network/${name}`, async () => {
      const matches = (await this.docker.networks.list(this.own.selector({ [LABEL_NETWORK]: name }))).filter((n) => n.name === this.own.dockerName(name));
      if (matches.length > 0) {
        // Keep the one in use (or the first); remove empty duplicates so the name is unambiguous.
        const keep = matches.find((n) => n.containers > 0) ?? matches[0];
        for (const n of matches) if (n !== keep && n.containers === 0) await this.docker.networks.remove(n.id);
        return;
      }
      const spec = desired.get('Network', name)?.spec;
      await this.docker.networks.create(this.own.dockerName(name), { ...(spec?.labels ?? {}), ...this.own.selector({ [LABEL_NETWORK]: name }) }, spec?.internal ?? false);
    });
  }

  /**
   * Creates a declared volume the agent owns. An external one is only checked: mounting a missing
   * volume would make Docker create an empty one under the real name, which looks like lost data.
   */
  ensureVolume(desired: DesiredState, name: string): Promise<void> {
    const spec = desired.get('Volume', name)?.spec;
    if (spec?.external) return this.checkExternalVolume(name, volumeDockerName(this.own, desired, name));
    return this.locks.run(`volume/${name}`, async () => {
      const existing = await this.docker.volumes.list(this.own.selector({ [LABEL_VOLUME]: name }));
      if (existing.some((v) => v.name === this.own.dockerName(name))) return;
      await this.docker.volumes.create(this.own.dockerName(name), { ...(spec?.labels ?? {}), ...this.own.selector({ [LABEL_VOLUME]: name }) });
    });
  }

  /** Throws (so the reconcile retries with backoff) until the external volume exists. */
  async checkExternalVolume(name: string, dockerName: string): Promise<void> {
    if (!(await this.docker.volumes.exists(dockerName))) {
      throw new Error(`external volume "${name}" (Docker volume ${dockerName}) does not exist; create it with: docker volume create ${dockerName}`);
    }
  }
}
