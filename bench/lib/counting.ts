import { rm } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import type Dockerode from 'dockerode';
import type { DockerClients } from '../../src/adapters/docker/index.js';

/** Named counters, snapshotted before and after a measured stretch. */
export class CallCounter {
  private readonly counts = new Map<string, number>();

  inc(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  snapshot(): Map<string, number> {
    return new Map(this.counts);
  }

  /** Counts since `before`, largest first, zeros dropped. */
  since(before: Map<string, number>): { total: number; byName: Record<string, number> } {
    const byName: [string, number][] = [];
    for (const [k, v] of this.counts) {
      const d = v - (before.get(k) ?? 0);
      if (d > 0) byName.push([k, d]);
    }
    byName.sort((a, b) => b[1] - a[1]);
    return { total: byName.reduce((n, [, v]) => n + v, 0), byName: Object.fromEntries(byName) };
  }
}

/**
 * The agent's Docker clients behind Proxies that count every method call (`buildAgent(config,
 * { docker })`), the unit the agent's code reasons in, named `containers.list`, `images.id` …
 * One call may be several HTTP requests (networks.list inspects each network; exec is create +
 * start + inspect): those are counted separately by `countHttpRequests`.
 */
export function countingClients(inner: DockerClients, counter: CallCounter): DockerClients {
  const wrap = <T extends object>(client: T, prefix: string): T =>
    new Proxy(client, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          counter.inc(`${prefix}.${String(prop)}`);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return {
    containers: wrap(inner.containers, 'containers'),
    images: wrap(inner.images, 'images'),
    networks: wrap(inner.networks, 'networks'),
    volumes: wrap(inner.volumes, 'volumes'),
    events: wrap(inner.events, 'events'),
    sessions: wrap(inner.sessions, 'sessions'),
  };
}

/** Normalises a Docker API path to a low-cardinality name: `GET /containers/{id}/json`. */
export function requestName(method: string, path: string): string {
  const bare = (path.split('?')[0] ?? '').replace(/^\/v\d+\.\d+/, '');
  const parts = bare.split('/').map((seg, i, all) => (i === 2 && all.length > 3 && ['containers', 'networks', 'volumes', 'images', 'exec'].includes(all[1] ?? '') ? '{id}' : seg));
  return `${method.toUpperCase()} ${parts.join('/')}`;
}

/** Counts every HTTP request a dockerode client sends (docker-modem's single entry point). */
export function countHttpRequests(docker: Dockerode, counter: CallCounter): void {
  const modem = docker.modem;
  const dial = modem.dial.bind(modem);
  modem.dial = (options, callback) => {
    counter.inc(requestName(options.method ?? 'GET', options.path ?? ''));
    return dial(options, callback);
  };
}

/**
 * A pass-through proxy in front of the Docker socket that counts the HTTP requests of a client we
 * cannot instrument (docker-compose): point it at the proxy with DOCKER_HOST=unix://<path>.
 */
export class CountingSocketProxy {
  private server: Server | undefined;
  readonly counter = new CallCounter();

  constructor(
    readonly path: string,
    private readonly target = '/var/run/docker.sock',
  ) {}

  async start(): Promise<void> {
    await rm(this.path, { force: true });
    this.server = createServer((client) => {
      const upstream = createConnection(this.target);
      let carry = '';
      client.on('data', (chunk: Buffer) => {
        // Request lines start a message; keep a short tail in case one is split across chunks.
        const text = carry + chunk.toString('latin1');
        for (const m of text.matchAll(/(?:^|\r\n)(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP\/1\.[01]\r\n/g)) this.counter.inc(requestName(m[1] as string, m[2] as string));
        carry = text.slice(-256).includes('\r\n') ? text.slice(text.lastIndexOf('\r\n')) : text.slice(-256);
      });
      client.pipe(upstream).pipe(client);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close);
      upstream.on('error', close);
    });
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.path, () => resolve());
    });
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await rm(this.path, { force: true });
  }
}
