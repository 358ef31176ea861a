import { docker } from './engine.js';

/**
 * Everything a benchmark run created, removed by label at the end (and on Ctrl-C): containers
 * carry the run's label, networks and volumes their agent instance's or compose project's label.
 */
export class Cleanup {
  private readonly instances = new Set<string>();
  private readonly projects = new Set<string>();

  constructor(private readonly runLabel: string) {}

  instance(name: string): string {
    this.instances.add(name);
    return name;
  }

  project(name: string): string {
    this.projects.add(name);
    return name;
  }

  /** Removes the containers, then networks and volumes, of the given owner labels (all when omitted). */
  async removeOwned(labels?: string[]): Promise<void> {
    const owners = labels ?? [
      this.runLabel,
      ...[...this.instances].map((i) => `io.certitrack.instance=${i}`),
      ...[...this.projects].map((p) => `com.docker.compose.project=${p}`),
    ];
    for (const label of owners) {
      const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
      // A few at a time: 200 parallel removals make dockerd slower than 8 would.
      for (let i = 0; i < containers.length; i += 8) {
        await Promise.all(containers.slice(i, i + 8).map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
      }
    }
    for (const label of owners) {
      // A container removed while it was being connected can hold the network a moment longer.
      for (let attempt = 0; attempt < 3; attempt++) {
        const networks = await docker.listNetworks({ filters: { label: [label] } });
        if (networks.length === 0) break;
        if (attempt > 0) await new Promise((r) => setTimeout(r, 1000));
        await Promise.all(networks.map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)));
      }
      const volumes = await docker.listVolumes({ filters: { label: [label] } });
      await Promise.all((volumes.Volumes ?? []).map((v) => docker.getVolume(v.Name).remove().catch(() => undefined)));
    }
  }

  async instanceGone(name: string): Promise<void> {
    await this.removeOwned([`io.certitrack.instance=${name}`]);
  }

  async projectGone(name: string): Promise<void> {
    await this.removeOwned([`com.docker.compose.project=${name}`]);
  }
}
