import type Dockerode from 'dockerode';
import { dockerCall, labelFilter } from './docker-call.js';

export interface NetworkInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** Containers attached now. */
  containers: number;
  attached: { id: string; name: string }[];
  internal: boolean;
}

interface RawNetwork {
  Id: string;
  Name: string;
  Labels?: Record<string, string> | null;
  Internal?: boolean;
  Containers?: Record<string, { Name?: string }> | null;
}

function info(n: RawNetwork): NetworkInfo {
  const attached = Object.entries(n.Containers ?? {}).map(([id, c]) => ({ id, name: c.Name ?? id.slice(0, 12) }));
  return { id: n.Id, name: n.Name, labels: n.Labels ?? {}, containers: attached.length, attached, internal: n.Internal === true };
}

/** The network calls the agent makes. Creating an existing name or removing a missing network succeeds. */
export interface NetworkClient {
  list(labels: Record<string, string>): Promise<NetworkInfo[]>;
  /** undefined when there is no such network. */
  inspect(idOrName: string): Promise<NetworkInfo | undefined>;
  create(name: string, labels: Record<string, string>, internal: boolean): Promise<void>;
  remove(idOrName: string): Promise<void>;
  /** `links` are `container:alias` pairs the container alone resolves (Docker's per-endpoint links). */
  connect(network: string, container: string, aliases: string[], links?: readonly string[]): Promise<void>;
  disconnect(network: string, container: string): Promise<void>;
}

export class DockerodeNetworkClient implements NetworkClient {
  constructor(private readonly docker: Dockerode) {}

  list(labels: Record<string, string>): Promise<NetworkInfo[]> {
    return dockerCall('list networks', async () => {
      const list = await this.docker.listNetworks({ filters: { label: labelFilter(labels) } });
      // The list call leaves Containers empty; only inspect fills it in.
      return Promise.all(list.map(async (n) => info((await this.docker.getNetwork(n.Id).inspect()) as RawNetwork)));
    });
  }

  inspect(idOrName: string): Promise<NetworkInfo | undefined> {
    return dockerCall(`inspect network ${idOrName}`, async () => info((await this.docker.getNetwork(idOrName).inspect()) as RawNetwork), { ok: [404] });
  }

  async create(name: string, labels: Record<string, string>, internal: boolean): Promise<void> {
    await dockerCall(`create network ${name}`, () => this.docker.createNetwork({ Name: name, Driver: 'bridge', Labels: labels, Internal: internal, CheckDuplicate: true }), { ok: [409] });
  }

  async remove(idOrName: string): Promise<void> {
    await dockerCall(`remove network ${idOrName}`, () => this.docker.getNetwork(idOrName).remove(), { ok: [404] });
  }

  async connect(network: string, container: string, aliases: string[], links: readonly string[] = []): Promise<void> {
    const endpoint = { Aliases: aliases, ...(links.length > 0 ? { Links: [...links] } : {}) };
    await dockerCall(`connect ${container.slice(0, 12)} to network ${network}`, () => this.docker.getNetwork(network).connect({ Container: container, EndpointConfig: endpoint }), {
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
