import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Dockerode from 'dockerode';
import { DemuxWritable, TailBuffer, writeWithBackpressure } from '../demux.js';
import { slabPool } from '../slab-pool.js';
import type { ContainerDetails, ContainerSummary, ExecOptions, ExecResult } from '../docker-types.js';
import { dockerCall, labelFilter } from './docker-call.js';
import { type EngineSocket, engineSocketOf } from './engine-socket.js';
import { attachExec } from './exec-stream.js';

export type ContainerCreateOptions = Dockerode.ContainerCreateOptions;

/**
 * The container calls the agent makes. "Already running", "already stopped" and "already gone"
 * are success (idempotent effects).
 */
export interface ContainerClient {
  list(labels: Record<string, string>): Promise<ContainerSummary[]>;
  /** undefined when there is no such container. */
  inspect(idOrName: string): Promise<ContainerDetails | undefined>;
  create(opts: ContainerCreateOptions): Promise<string>;
  start(id: string): Promise<void>;
  /** SIGTERM (or the container's stop signal), SIGKILL after the grace; without one, the StopTimeout it was created with. */
  stop(id: string, graceSeconds?: number): Promise<void>;
  remove(id: string): Promise<void>;
  rename(id: string, name: string): Promise<void>;
  /** Blocks until the container exits; returns its exit code. */
  wait(id: string, signal?: AbortSignal): Promise<number>;
  logsTail(id: string, bytes?: number): Promise<string>;
  exec(container: string, cmd: string[], opts?: ExecOptions): Promise<ExecResult>;
  /**
   * `GET /containers/{id}/archive`: a tar stream of `path` in the container, which need not be
   * running (the engine mounts its volumes itself). Nothing runs inside the container.
   */
  getArchive(id: string, path: string, signal?: AbortSignal): Promise<Readable>;
  /** `PUT /containers/{id}/archive`: extracts the tar `body` into `path` (ownership and modes as in the tar). */
  putArchive(id: string, path: string, body: Readable, signal?: AbortSignal): Promise<void>;
}

export class DockerodeContainerClient implements ContainerClient {
  /** Exec output is read on connections of the client's own (exec-stream.ts). */
  private readonly engine: EngineSocket;

  constructor(private readonly docker: Dockerode) {
    this.engine = engineSocketOf(docker);
  }

  list(labels: Record<string, string>): Promise<ContainerSummary[]> {
    return dockerCall('list containers', async () =>
      (await this.docker.listContainers({ all: true, filters: { label: labelFilter(labels) } })).map((c) => ({
        id: c.Id,
        name: (c.Names[0] ?? '').replace(/^\//, ''),
        labels: c.Labels ?? {},
        state: c.State,
      })),
    );
  }

  inspect(idOrName: string): Promise<ContainerDetails | undefined> {
    return dockerCall(`inspect container ${idOrName}`, async () => details(await this.docker.getContainer(idOrName).inspect()), { ok: [404] });
  }

  create(opts: ContainerCreateOptions): Promise<string> {
    return dockerCall(`create container ${opts.name ?? ''}`, async () => (await this.docker.createContainer(opts)).id);
  }

  async start(id: string): Promise<void> {
    await dockerCall(`start container ${id.slice(0, 12)}`, () => this.docker.getContainer(id).start(), { ok: [304] });
  }

  async stop(id: string, graceSeconds?: number): Promise<void> {
    await dockerCall(`stop container ${id.slice(0, 12)}`, () => this.docker.getContainer(id).stop(graceSeconds === undefined ? {} : { t: Math.ceil(graceSeconds) }), { ok: [304, 404] });
  }

  async remove(id: string): Promise<void> {
    // 409 "removal already in progress" ends the same way.
    await dockerCall(`remove container ${id.slice(0, 12)}`, () => this.docker.getContainer(id).remove({ force: true, v: false }), { ok: [404, 409] });
  }

  async rename(id: string, name: string): Promise<void> {
    await dockerCall(`rename container ${id.slice(0, 12)} to ${name}`, () => this.docker.getContainer(id).rename({ name }));
  }

  wait(id: string, signal?: AbortSignal): Promise<number> {
    return dockerCall(`wait for container ${id.slice(0, 12)}`, async () => ((await this.docker.getContainer(id).wait({ abortSignal: signal } as object)) as { StatusCode: number }).StatusCode);
  }

  logsTail(id: string, bytes = 4096): Promise<string> {
    return dockerCall(
      `logs of container ${id.slice(0, 12)}`,
      async () => {
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
      },
      { ok: [404], fallback: '' },
    );
  }

  async exec(container: string, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const exec = await dockerCall(`exec in ${container}`, () =>
      this.docker.getContainer(container).exec({
        Cmd: cmd,
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: opts.stdin !== undefined,
        Env: Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`),
        User: opts.user,
        WorkingDir: opts.workingDir,
      }),
    );
    return dockerCall(`exec ${cmd[0] ?? ''} in ${container}`, async () => {
      const tail = new TailBuffer(4096);
      const sink = opts.stdout;
      await attachExec(this.engine, exec.id, {
        // Kept for the result as a copy, so that the slab goes back to the pool at once.
        stdout: sink ? (chunk) => writeWithBackpressure(sink, chunk) : (chunk) => (tail.push(Buffer.from(chunk)), slabPool.giveBack(chunk)),
        stderr: (chunk) => tail.push(chunk),
        ...(opts.stdin ? { stdin: opts.stdin } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      const info = await exec.inspect();
      return { exitCode: info.ExitCode ?? -1, outputTail: tail.toString() };
    });
  }

  getArchive(id: string, path: string, signal?: AbortSignal): Promise<Readable> {
    return dockerCall(`read ${path} from container ${id.slice(0, 12)}`, async () => (await this.docker.getContainer(id).getArchive({ path, abortSignal: signal } as { path: string })) as Readable);
  }

  async putArchive(id: string, path: string, body: Readable, signal?: AbortSignal): Promise<void> {
    // The engine answers once the whole body is extracted (or has failed).
    await dockerCall(`write ${path} into container ${id.slice(0, 12)}`, () => this.docker.getContainer(id).putArchive(body, { path, abortSignal: signal } as { path: string }));
  }
}

function details(c: Dockerode.ContainerInspectInfo): ContainerDetails {
  const date = (s: string | undefined): Date | undefined => (s && !s.startsWith('0001') ? new Date(s) : undefined);
  const healthState = (c.State as { Health?: { Status?: string; Log?: { Output?: string; ExitCode?: number }[] } }).Health;
  const health = healthState?.Status;
  const lastProbe = healthState?.Log?.[healthState.Log.length - 1];
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
    ...(lastProbe ? { healthOutput: `exit ${lastProbe.ExitCode ?? '?'}${lastProbe.Output?.trim() ? `: ${lastProbe.Output.trim().slice(-300)}` : ''}` } : {}),
    oomKilled: c.State.OOMKilled,
    image: c.Config.Image,
    imageId: c.Image,
    mounts: (c.Mounts ?? []).map((m) => ({ type: m.Type, ...(m.Name ? { name: m.Name } : {}), source: m.Source, destination: m.Destination, readOnly: m.RW === false })),
    ...endpoints(c.NetworkSettings.Networks ?? {}),
  };
}

/** Address, aliases and links per attached network, in one pass over the endpoints. */
function endpoints(networks: Record<string, { IPAddress: string; Aliases?: string[] | null; Links?: string[] | null }>): Pick<ContainerDetails, 'networks' | 'aliases' | 'links'> {
  const out: Pick<ContainerDetails, 'networks' | 'aliases' | 'links'> = { networks: {}, aliases: {}, links: {} };
  for (const [name, e] of Object.entries(networks)) {
    out.networks[name] = e.IPAddress;
    out.aliases[name] = e.Aliases ?? [];
    out.links[name] = e.Links ?? [];
  }
  return out;
}
