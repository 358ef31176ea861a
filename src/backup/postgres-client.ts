import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TailBuffer, writeWithBackpressure } from '../adapters/demux.js';
import { LABEL_JOB, type ExecResult } from '../adapters/docker-types.js';
import type { BackupSource } from '../manifests/kinds/backup.js';
import { resolveValue } from '../manifests/secrets.js';
import { serviceContainer } from '../schedule/container-jobs.js';
import { AGENT_VERSION } from '../version.js';
import type { SourceContext } from './sources.js';

export type PostgresSourceSpec = Extract<BackupSource, { postgres: unknown }>['postgres'];

/** Where the PostgreSQL client tools of a network source run (CERTITRACK_POSTGRES_CLIENT). */
/** PostgreSQL's port, for a network source that names none. */
export const PG_PORT = 5432;

export type PostgresClientMode = 'container' | 'local';

export interface ToolIo {
  /** Where stdout streams (back-pressure respected); otherwise its tail is in the result. */
  stdout?: Writable;
  /** Fed to the tool's stdin, which is then closed. */
  stdin?: Readable;
  signal?: AbortSignal;
}

/**
 * The PostgreSQL client tools (pg_dump, pg_restore, psql, createdb) run against one source's
 * database, with the connection already given: `run` takes the tool's own arguments. The password
 * travels as PGPASSWORD in the tool's environment (the exec's or the child process's), never on a
 * command line or in a container's configuration, where `docker inspect` and `ps` would show it.
 */
export interface PostgresTools {
  /** What the tools connect to, for messages (no secret). */
  readonly where: string;
  run(tool: string, args: readonly string[], io?: ToolIo): Promise<ExecResult>;
  /** Removes what was made to run them (a one-off container); idempotent. */
  close(): Promise<void>;
}

/** The default image of one-off pg_dump containers: the agent's own (postgresql-client-15). */
export const agentImage = (): string => `certitrack-agent:${AGENT_VERSION}`;

/**
 * Wraps a command so that stdin is read to its end even after the command stops reading (tar and
 * pg_restore stop at their end markers, leaving padding): otherwise the writer sees EPIPE, and the
 * object's sha256 could not be checked to the last byte. The command's own exit code is kept.
 */
export const drainingStdin = (cmd: readonly string[]): string[] => ['sh', '-c', '"$@"; rc=$?; cat >/dev/null; exit $rc', 'sh', ...cmd];

function pgEnv(pg: PostgresSourceSpec, ctx: SourceContext): Record<string, string> {
  return {
    ...(pg.password === undefined ? {} : { PGPASSWORD: resolveValue(pg.password, ctx.secrets, ctx.baseDir) }),
    ...(pg.sslmode ? { PGSSLMODE: pg.sslmode } : {}),
  };
}

/** The tools for one postgres source, opened where its mode says; close them when done. */
export async function openPostgresTools(pg: PostgresSourceSpec, ctx: SourceContext, timeoutMs: number): Promise<PostgresTools> {
  const env = pgEnv(pg, ctx);
  if (pg.service !== undefined) {
    const id = await serviceContainer(ctx.docker, ctx.own, pg.service);
    return execTools(ctx, id, `service ${pg.service}`, ['-U', pg.user], env);
  }
  const port = pg.port ?? PG_PORT;
  const conn = ['-h', pg.host as string, '-p', String(port), '-U', pg.user];
  const where = `${pg.host}:${port}`;
  if (ctx.postgresClient === 'local') return localTools(where, conn, env);
  return containerTools(pg, ctx, where, conn, env, timeoutMs);
}

/** The tools of one place, from how it runs a command line. */
function toolsOf(where: string, conn: readonly string[], exec: (cmd: readonly string[], io: ToolIo) => Promise<ExecResult>, close: () => Promise<void>): PostgresTools {
  return {
    where,
    run: (tool, args, io = {}) => exec([tool, ...conn, ...args], io),
    close,
  };
}

function execTools(ctx: SourceContext, container: string, where: string, conn: readonly string[], env: Record<string, string>, close = async (): Promise<void> => undefined): PostgresTools {
  return toolsOf(where, conn, (cmd, io) => ctx.docker.containers.exec(container, io.stdin ? drainingStdin(cmd) : [...cmd], { env, ...io }), close);
}

/**
 * A one-off container of the agent's image (or the source's `image`) on the source's network,
 * sleeping while the tools run in it through exec. Its own configuration holds no secret. The
 * image must be on the engine: backups never pull.
 */
async function containerTools(pg: PostgresSourceSpec, ctx: SourceContext, where: string, conn: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<PostgresTools> {
  const image = pg.image ?? ctx.agentImage ?? agentImage();
  if ((await ctx.docker.images.id(image)) === undefined) {
    throw new Error(`image ${image} for pg_dump over the network is not on this engine (backups never pull): ${pg.image ? 'load or build it' : 'build it with scripts/build-images.sh'}, or set postgres.image`);
  }
  const id = await ctx.docker.containers.create({
    name: ctx.own.dockerName(`backup-pg-${randomBytes(4).toString('hex')}`),
    Image: image,
    Entrypoint: ['sleep'],
    // Outlives the job's own timeout, after which the job removes it anyway.
    Cmd: [String(Math.ceil(timeoutMs / 1000) + 300)],
    Labels: ctx.own.selector({ [LABEL_JOB]: ctx.jobKey }),
    HostConfig: { NetworkMode: pg.network ? ctx.own.dockerName(pg.network) : 'bridge' },
  });
  const remove = async (): Promise<void> => {
    await ctx.docker.containers.remove(id).catch((err: unknown) => ctx.log?.warn({ err: (err as Error).message }, 'could not remove the pg_dump container'));
  };
  try {
    await ctx.docker.containers.start(id);
  } catch (err) {
    await remove();
    throw err;
  }
  return execTools(ctx, id, `${where} (from a container of ${image})`, conn, env, remove);
}

/** The tools of the agent's own environment (its image carries postgresql-client-15): a child process each. */
function localTools(where: string, conn: readonly string[], env: Record<string, string>): PostgresTools {
  return toolsOf(where, conn, (cmd, io) => spawnTool(cmd, { ...process.env, ...env }, io), async () => undefined);
}

async function spawnTool(cmd: readonly string[], env: NodeJS.ProcessEnv, io: ToolIo): Promise<ExecResult> {
  const [file, ...args] = (io.stdin ? drainingStdin(cmd) : cmd) as [string, ...string[]];
  const child = spawn(file, args, { env, stdio: [io.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const [stdout, stderr] = [child.stdout as Readable, child.stderr as Readable];
  const tail = new TailBuffer(4096);
  stderr.on('data', (c: Buffer) => tail.push(c));
  const exited = new Promise<number>((res, rej) => {
    child.once('error', (err) => rej(new Error(`${cmd[0]}: ${err.message}`)));
    child.once('close', (code, sig) => res(code ?? (sig ? 128 : -1)));
  });
  const kill = (): void => void child.kill('SIGTERM');
  io.signal?.addEventListener('abort', kill, { once: true });
  try {
    const out = io.stdout;
    const reading = (async () => {
      for await (const chunk of stdout) {
        if (out) await writeWithBackpressure(out, chunk as Buffer);
        else tail.push(chunk as Buffer);
      }
    })();
    const feeding = io.stdin && child.stdin ? pipeline(io.stdin, child.stdin) : Promise.resolve();
    await Promise.all([reading, feeding, exited]);
    return { exitCode: await exited, outputTail: tail.toString() };
  } catch (err) {
    kill();
    throw err;
  } finally {
    io.signal?.removeEventListener('abort', kill);
  }
}
