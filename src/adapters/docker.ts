import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type Dockerode from 'dockerode';
import { LineSplitter } from '../util/line-splitter.js';
import { DemuxWritable, TailBuffer, writeWithBackpressure } from './demux.js';
import type { ContainerDetails, ContainerSummary, DockerEvent, ExecOptions, ExecResult } from './docker-types.js';

export type ContainerCreateOptions = Dockerode.ContainerCreateOptions;

/**
 * The Docker calls the agent makes, and nothing more. "Already running", "already stopped" and
 * "already gone" are success (idempotent effects); other errors are rethrown with the operation
 * and object named.
 */
export interface DockerAdapter {
  ping(): Promise<void>;
  listContainers(labels: Record<string, string>): Promise<ContainerSummary[]>;
  inspectContainer(idOrName: string): Promise<ContainerDetails | undefined>;
  createContainer(opts: ContainerCreateOptions): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** SIGTERM (or the image's STOPSIGNAL), SIGKILL after the grace; without one, the StopTimeout the container was created with. */
  stopContainer(id: string, graceSeconds?: number): Promise<void>;
  removeContainer(id: string): Promise<void>;
  /** Blocks until the container exits; returns its exit code. */
  waitContainer(id: string, signal?: AbortSignal): Promise<number>;
  containerLogsTail(id: string, bytes?: number): Promise<string>;
  listNetworks(labels: Record<string, string>): Promise<{ id: string; name: string; labels: Record<string, string>; containers: number }[]>;
  createNetwork(name: string, labels: Record<string, string>, internal: boolean): Promise<void>;
  removeNetwork(name: string): Promise<void>;
  listVolumes(labels: Record<string, string>): Promise<{ name: string; labels: Record<string, string> }[]>;
  createVolume(name: string, labels: Record<string, string>): Promise<void>;
  imageExists(ref: string): Promise<boolean>;
  /** The local image's id, or undefined when the engine does not have it. */
  imageId(ref: string): Promise<string | undefined>;
  imageLabels(ref: string): Promise<Record<string, string> | undefined>;
  connectNetwork(network: string, container: string, aliases: string[]): Promise<void>;
  pullImage(ref: string): Promise<void>;
  buildImage(contextDir: string, dockerfile: string, tag: string, args: Record<string, string>, labels: Record<string, string>): Promise<void>;
  exec(container: string, cmd: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** A stream of events until `signal` aborts; ends (resolves) if the engine closes the stream. */
  events(filters: Record<string, string[]>, onEvent: (e: DockerEvent) => void, signal: AbortSignal, onOpen?: () => void): Promise<void>;
}

interface HttpError {
  statusCode?: number;
  json?: { message?: string };
  message: string;
}

const statusOf = (err: unknown): number | undefined => (err as HttpError).statusCode;

function wrap(op: string, err: unknown): Error {
  const e = err as HttpError;
  const detail = e.json?.message ?? e.message;
  return new Error(`docker ${op}: ${detail}`, { cause: err });
}

const labelFilter = (labels: Record<string, string>): string[] => Object.entries(labels).map(([k, v]) => `${k}=${v}`);

export class DockerodeAdapter implements DockerAdapter {
  constructor(private readonly docker: Dockerode) {}

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (err) {
      throw wrap('ping', err);
    }
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    try {
      const list = await this.docker.listContainers({ all: true, filters: { label: labelFilter(labels) } });
      return list.map((c) => ({ id: c.Id, name: (c.Names[0] ?? '').replace(/^\//, ''), labels: c.Labels ?? {}, state: c.State }));
    } catch (err) {
      throw wrap('list containers', err);
    }
  }

  async inspectContainer(idOrName: string): Promise<ContainerDetails | undefined> {
    try {
      const c = await this.docker.getContainer(idOrName).inspect();
      const date = (s: string | undefined): Date | undefined => (s && !s.startsWith('0001') ? new Date(s) : undefined);
      const health = (c.State as { Health?: { Status?: string } }).Health?.Status;
      return {
        id: c.Id,
        name: c.Name.replace(/^\//, ''),
        labels: c.Config.Labels ?? {},
        state: c.State.Status,
        running: c.State.Running,
        exitCode: c.State.ExitCode,
        startedAt: date(c.State.StartedAt),
        finishedAt: date(c.State.FinishedAt),
        health: health === 'starting' || health === 'healthy' || health === 'unhealthy' ? health : undefined,
        oomKilled: c.State.OOMKilled,
        image: c.Config.Image,
        networks: Object.fromEntries(Object.entries(c.NetworkSettings.Networks ?? {}).map(([n, v]) => [n, v.IPAddress])),
      };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw wrap(`inspect container ${idOrName}`, err);
    }
  }

  async createContainer(opts: ContainerCreateOptions): Promise<string> {
    try {
      return (await this.docker.createContainer(opts)).id;
    } catch (err) {
      throw wrap(`create container ${opts.name ?? ''}`, err);
    }
  }

  async startContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      if (statusOf(err) === 304) return;
      throw wrap(`start container ${id.slice(0, 12)}`, err);
    }
  }

  async stopContainer(id: string, graceSeconds?: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop(graceSeconds === undefined ? {} : { t: Math.ceil(graceSeconds) });
    } catch (err) {
      if (statusOf(err) === 304 || statusOf(err) === 404) return;
      throw wrap(`stop container ${id.slice(0, 12)}`, err);
    }
  }

  async removeContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: false });
    } catch (err) {
      // 409 "removal already in progress" ends the same way.
      if (statusOf(err) === 404 || statusOf(err) === 409) return;
      throw wrap(`remove container ${id.slice(0, 12)}`, err);
    }
  }

  async waitContainer(id: string, signal?: AbortSignal): Promise<number> {
    try {
      const res = (await this.docker.getContainer(id).wait({ abortSignal: signal } as object)) as { StatusCode: number };
      return res.StatusCode;
    } catch (err) {
      throw wrap(`wait for container ${id.slice(0, 12)}`, err);
    }
  }

  async containerLogsTail(id: string, bytes = 4096): Promise<string> {
    try {
      const buf = (await this.docker.getContainer(id).logs({ stdout: true, stderr: true, tail: 50, follow: false })) as Buffer;
      const tail = new TailBuffer(bytes);
      await pipeline(
        (async function* () {
          yield buf;
        })(),
        new DemuxWritable(
          (c) => tail.push(c),
          (c) => tail.push(c),
        ),
      );
      return tail.toString();
    } catch (err) {
      if (statusOf(err) === 404) return '';
      throw wrap(`logs of container ${id.slice(0, 12)}`, err);
    }
  }

  async listNetworks(labels: Record<string, string>) {
    try {
      const list = await this.docker.listNetworks({ filters: { label: labelFilter(labels) } });
      return Promise.all(
        list.map(async (n) => {
          // The list call leaves Containers empty; only inspect fills it in.
          const full = (await this.docker.getNetwork(n.Id).inspect()) as { Containers?: Record<string, unknown> };
          return { id: n.Id, name: n.Name, labels: n.Labels ?? {}, containers: Object.keys(full.Containers ?? {}).length };
        }),
      );
    } catch (err) {
      throw wrap('list networks', err);
    }
  }

  async createNetwork(name: string, labels: Record<string, string>, internal: boolean): Promise<void> {
    try {
      await this.docker.createNetwork({ Name: name, Driver: 'bridge', Labels: labels, Internal: internal, CheckDuplicate: true });
    } catch (err) {
      if (statusOf(err) === 409) return;
      throw wrap(`create network ${name}`, err);
    }
  }

  async removeNetwork(name: string): Promise<void> {
    try {
      await this.docker.getNetwork(name).remove();
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw wrap(`remove network ${name}`, err);
    }
  }

  async listVolumes(labels: Record<string, string>) {
    try {
      const res = await this.docker.listVolumes({ filters: { label: labelFilter(labels) } });
      return (res.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
    } catch (err) {
      throw wrap('list volumes', err);
    }
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.docker.createVolume({ Name: name, Labels: labels });
    } catch (err) {
      throw wrap(`create volume ${name}`, err);
    }
  }

  async imageExists(ref: string): Promise<boolean> {
    return (await this.imageId(ref)) !== undefined;
  }

  async imageId(ref: string): Promise<string | undefined> {
    try {
      return (await this.docker.getImage(ref).inspect()).Id;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw wrap(`inspect image ${ref}`, err);
    }
  }

  async imageLabels(ref: string): Promise<Record<string, string> | undefined> {
    try {
      return (await this.docker.getImage(ref).inspect()).Config?.Labels ?? {};
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw wrap(`inspect image ${ref}`, err);
    }
  }

  async connectNetwork(network: string, container: string, aliases: string[]): Promise<void> {
    try {
      await this.docker.getNetwork(network).connect({ Container: container, EndpointConfig: { Aliases: aliases } });
    } catch (err) {
      // 403 "already exists in network" is the state we want.
      if (statusOf(err) === 403 && /already exists/.test((err as HttpError).json?.message ?? '')) return;
      throw wrap(`connect ${container.slice(0, 12)} to network ${network}`, err);
    }
  }

  async pullImage(ref: string): Promise<void> {
    try {
      const stream = await this.docker.pull(ref);
      await followProgress(this.docker, stream);
    } catch (err) {
      throw wrap(`pull image ${ref}`, err);
    }
  }

  async buildImage(contextDir: string, dockerfile: string, tag: string, args: Record<string, string>, labels: Record<string, string>): Promise<void> {
    try {
      const src = await listFiles(contextDir);
      const stream = await this.docker.buildImage({ context: contextDir, src }, { t: tag, dockerfile, buildargs: args, labels, rm: true, forcerm: true });
      await followProgress(this.docker, stream);
    } catch (err) {
      throw wrap(`build image ${tag} from ${contextDir}`, err);
    }
  }

  async exec(container: string, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    let exec: Dockerode.Exec;
    try {
      exec = await this.docker.getContainer(container).exec({
        Cmd: cmd,
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: opts.stdin !== undefined,
        Env: Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`),
        User: opts.user,
        WorkingDir: opts.workingDir,
      });
    } catch (err) {
      throw wrap(`exec in ${container}`, err);
    }
    const tail = new TailBuffer(4096);
    try {
      const stream = (await exec.start({ hijack: true, stdin: opts.stdin !== undefined })) as NodeJS.ReadWriteStream;
      const onAbort = (): void => {
        (stream as unknown as { destroy(e?: Error): void }).destroy(new Error('aborted'));
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const sink = opts.stdout;
      const demux = new DemuxWritable(
        sink ? (chunk) => writeWithBackpressure(sink, chunk) : (chunk) => tail.push(chunk),
        (chunk) => tail.push(chunk),
      );
      const feeding = opts.stdin
        ? pipeline(opts.stdin, stream as unknown as NodeJS.WritableStream).catch((err: unknown) => {
            (stream as unknown as { destroy(e?: Error): void }).destroy(err as Error);
          })
        : Promise.resolve();
      try {
        await Promise.all([pipeline(stream, demux), feeding]);
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
      }
      const info = await exec.inspect();
      return { exitCode: info.ExitCode ?? -1, outputTail: tail.toString() };
    } catch (err) {
      throw wrap(`exec ${cmd[0] ?? ''} in ${container}`, err);
    }
  }

  async events(filters: Record<string, string[]>, onEvent: (e: DockerEvent) => void, signal: AbortSignal, onOpen?: () => void): Promise<void> {
    let stream: NodeJS.ReadableStream;
    try {
      stream = (await this.docker.getEvents({ filters, abortSignal: signal } as object)) as NodeJS.ReadableStream;
    } catch (err) {
      throw wrap('subscribe to events', err);
    }
    onOpen?.();
    const lines = new LineSplitter((line) => onEvent(parseEvent(line)));
    await new Promise<void>((resolve) => {
      const finish = (): void => {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        resolve();
      };
      signal.addEventListener('abort', finish, { once: true });
      stream.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
      stream.on('end', finish);
      stream.on('error', finish);
      stream.on('close', finish);
    });
  }
}

function parseEvent(line: string): DockerEvent {
  const raw = JSON.parse(line) as { Type?: string; Action?: string; Actor?: { ID?: string; Attributes?: Record<string, string> }; time?: number };
  return {
    type: (raw.Type ?? 'container') as DockerEvent['type'],
    action: raw.Action ?? '',
    id: raw.Actor?.ID ?? '',
    labels: raw.Actor?.Attributes ?? {},
    time: new Date((raw.time ?? 0) * 1000),
  };
}

function followProgress(docker: Dockerode, stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, output: { error?: string; errorDetail?: { message?: string } }[]) => {
      if (err) return reject(err);
      const failed = output.find((o) => o.error || o.errorDetail);
      if (failed) return reject(new Error(failed.errorDetail?.message ?? failed.error));
      resolve();
    });
  });
}

async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      if (e.isDirectory()) await walk(full);
      else out.push(relative(root, full));
    }
  };
  await walk(root);
  return out;
}
