import type Dockerode from 'dockerode';
import { dockerCall, labelFilter } from './docker-call.js';

export interface NetworkInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** Containers attached now. */
  containers: number;
  internal: boolean;
}

/** The network calls the agent makes. Creating an existing name or removing a missing network succeeds. */
export interface NetworkClient {
  list(labels: Record<string, string>): Promise<NetworkInfo[]>;
  create(name: string, labels: Record<string, string>, internal: boolean): Promise<void>;
  remove(idOrName: string): Promise<void>;
  connect(network: string, container: string, aliases: string[]): Promise<void>;
  disconnect(network: string, container: string): Promise<void>;
}

export class DockerodeNetworkClient implements NetworkClient {
  constructor(private readonly docker: Dockerode) {}

  list(labels: Record<string, string>): Promise<NetworkInfo[]> {
    return dockerCall('list networks', async () => {
      const list = await this.docker.listNetworks({ filters: { label: labelFilter(labels) } });
      return Promise.all(
        list.map(async (n) => {
          // The list call leaves Containers empty; only inspect fills it in.
          const full = (await this.docker.getNetwork(n.Id).inspect()) as { Containers?: Record<string, unknown>; Internal?: boolean };
          return { id: n.Id, name: n.Name, labels: n.Labels ?? {}, containers: Object.keys(full.Containers ?? {}).length, internal: full.Internal === true };
        }),
      );
    });
  }

  async create(name: string, labels: Record<string, string>, internal: boolean): Promise<void> {
    await dockerCall(`create network ${name}`, () => this.docker.createNetwork({ Name: name, Driver: 'bridge', Labels: labels, Internal: internal, CheckDuplicate: true }), { ok: [409] });
  }

  async remove(idOrName: string): Promise<void> {
    await dockerCall(`remove network ${idOrName}`, () => this.docker.getNetwork(idOrName).remove(), { ok: [404] });
  }

  async connect(network: string, container: string, aliases: string[]): Promise<void> {
    await dockerCall(`connect ${container.slice(0, 12)} to network ${network}`, () => this.docker.getNetwork(network).connect({ Container: container, EndpointConfig: { Aliases: aliases } }), {
      // 403 "already exists in network" is the state we want.
      okWhen: (status, message) => status === 403 && /already exists/.test(message),
    });
  }

  async disconnect(network: string, container: string): Promise<void> {
    await dockerCall(`disconnect ${container.slice(0, 12)} from network ${network}`, () => this.docker.getNetwork(network).disconnect({ Container: container, Force: true }), {
      ok: [404],
      okWhen: (status, message) => status === 403 && /not connected/.test(message),
    });
  }
}
