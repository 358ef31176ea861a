import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, isAbsolute, resolve } from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { LABEL_JOB, LABEL_SERVICE } from '../adapters/docker-types.js';
import type { DockerClients } from '../adapters/docker/index.js';
import { resourceKey } from '../engine/reconcile.js';
import type { BackupSource, BackupSpec } from '../manifests/kinds/backup.js';
import type { Resource } from '../manifests/resource.js';
import { resolveValue, type SecretSource } from '../manifests/secrets.js';
import type { Ownership } from '../reconcilers/ownership.js';
import { TailBuffer } from '../adapters/demux.js';
import type { Producer } from './pipeline.js';

export interface SourceContext {
  docker: DockerClients;
  own: Ownership;
  secrets: SecretSource;
  /** Image with sh, tar and sleep for volume backups and restores (busybox). */
  helperImage: string;
  /** Relative directory and file paths are relative to the manifest file's folder. */
  baseDir: string;
  /** "Backup/<name>", put on helper containers so leftovers can be found and removed. */
  jobKey: string;
  log?: Logger;
}

/** What every source context of this agent shares; {@link sourceContextFor} adds the Backup's own. */
export type SourceDeps = Pick<SourceContext, 'docker' | 'own' | 'secrets' | 'helperImage'>;

/** The context a Backup's sources are backed up and restored in: paths relative to its manifest, helpers labelled with its key. */
export function sourceContextFor(deps: SourceDeps, res: Resource<BackupSpec>, log?: Logger): SourceContext {
  return { ...deps, baseDir: res.source.dir, jobKey: resourceKey('Backup', res.name), ...(log ? { log } : {}) };
}

/** A source ready to stream: where its object goes, how it is compressed, what the manifest says about it. */
export interface PreparedSource {
  /** File name inside the backup's folder, unique within the backup. */
  name: string;
  /** What the manifest records about the source (never a secret). */
  info: Record<string, unknown>;
  compression: 'gzip' | 'none';
  /** Set when compression is gzip. */
  gzipLevel?: number;
  contentType: string;
  produce: Producer;
  /** Non-fatal problems seen while producing (e.g. a file changed while tar read it). */
  warnings: string[];
  /** `pg_dump --version` from the database container, for the manifest. */
  toolVersion?: () => Promise<string | undefined>;
}

const slug = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 60) || 'x';

export const hostPath = (path: string, baseDir: string): string => (isAbsolute(path) ? path : resolve(baseDir, path));

/** The running container of a declared Service, found by the agent's labels. */
export async function serviceContainer(docker: DockerClients, own: Ownership, service: string): Promise<string> {
  const list = await docker.containers.list(own.selector({ [LABEL_SERVICE]: service }));
  const running = list.find((c) => c.state === 'running');
  if (!running) throw new Error(`service "${service}" has no running container (${list.length ? `state ${list.map((c) => c.state).join(', ')}` : 'none found'})`);
  return running.id;
}

export function pgEnv(src: Extract<BackupSource, { postgres: unknown }>['postgres'], ctx: SourceContext): Record<string, string> {
  return src.password === undefined ? {} : { PGPASSWORD: resolveValue(src.password, ctx.secrets, ctx.baseDir) };
}

/**
 * Writes every chunk of `chunks` into `out`, waiting for 'drain' when it is full: this is what makes
 * a slow upload slow the source down instead of filling memory.
 */
export async function writeAll(chunks: AsyncIterable<Buffer>, out: Writable, signal: AbortSignal): Promise<void> {
  for await (const chunk of chunks) {
    if (signal.aborted) throw new Error('aborted');
    if (!out.write(chunk)) await once(out, 'drain', { signal });
  }
}

export function prepareSources(spec: BackupSpec, ctx: SourceContext): PreparedSource[] {
  const level = spec.compression.algorithm === 'gzip' ? spec.compression.level : undefined;
  return spec.sources.map((s, i) => {
    const n = String(i + 1).padStart(2, '0');
    const gz = level !== undefined;
    if ('postgres' in s) return postgresSource(s.postgres, `${n}-postgres-${slug(s.postgres.database)}.dump`, ctx);
    if ('directory' in s) {
      const dir = hostPath(s.directory.path, ctx.baseDir);
      return tarSource(`${n}-directory-${slug(basename(dir))}.tar${gz ? '.gz' : ''}`, level, { type: 'directory', path: dir, exclude: s.directory.exclude }, (out, signal, warnings) =>
        hostTar(dir, s.directory.exclude, out, signal, warnings),
      );
    }
    if ('volume' in s) {
      const vol = s.volume.name;
      return tarSource(`${n}-volume-${slug(vol)}.tar${gz ? '.gz' : ''}`, level, { type: 'volume', name: vol, dockerName: ctx.own.dockerName(vol) }, (out, signal) =>
        volumeTar(ctx, ctx.own.dockerName(vol), out, signal),
      );
    }
    if ('file' in s) {
      const path = hostPath(s.file.path, ctx.baseDir);
      return {
        name: `${n}-file-${slug(basename(path))}${gz ? '.gz' : ''}`,
        info: { type: 'file', path },
        compression: gz ? 'gzip' : 'none',
        ...(level !== undefined ? { gzipLevel: level } : {}),
        contentType: gz ? 'application/gzip' : 'application/octet-stream',
        warnings: [],
        produce: async (out, signal) => writeAll(createReadStream(path, { signal }), out, signal),
      };
    }
    throw new Error('ebsSnapshot sources are not streamed; the snapshot path handles them');
  });
}

function postgresSource(
  pg: Extract<BackupSource, { postgres: unknown }>['postgres'],
  name: string,
  ctx: SourceContext,
): PreparedSource {
  // The custom format deflates each table itself (zlib, in the database container, off the agent's
  // CPU), so gzipping it again would gain nothing: it is stored as produced.
  const z = pg.compressLevel;
  return {
    name,
    info: { type: 'postgres', service: pg.service, database: pg.database, user: pg.user, format: pg.format, compressLevel: pg.compressLevel },
    compression: 'none',
    contentType: 'application/vnd.postgresql.custom-dump',
    warnings: [],
    toolVersion: async () => {
      const id = await serviceContainer(ctx.docker, ctx.own, pg.service);
      const res = await ctx.docker.containers.exec(id, ['pg_dump', '--version']);
      return res.exitCode === 0 ? res.outputTail.trim() : undefined;
    },
    produce: async (out, signal) => {
      const id = await serviceContainer(ctx.docker, ctx.own, pg.service);
      const res = await ctx.docker.containers.exec(id, ['pg_dump', '-Fc', `-Z${z}`, '-U', pg.user, '-d', pg.database], { stdout: out, env: pgEnv(pg, ctx), signal });
      if (res.exitCode !== 0) throw new Error(`pg_dump exited with code ${res.exitCode}: ${res.outputTail.trim() || '(no output)'}`);
    },
  };
}

function tarSource(
  name: string,
  level: number | undefined,
  info: Record<string, unknown>,
  run: (out: Writable, signal: AbortSignal, warnings: string[]) => Promise<void>,
): PreparedSource {
  const warnings: string[] = [];
  return {
    name,
    info,
    compression: level !== undefined ? 'gzip' : 'none',
    ...(level !== undefined ? { gzipLevel: level } : {}),
    contentType: level !== undefined ? 'application/gzip' : 'application/x-tar',
    warnings,
    produce: (out, signal) => run(out, signal, warnings),
  };
}

/**
 * The host's tar (GNU tar on the Debian/Ubuntu/Amazon Linux hosts this runs on): streaming,
 * battle-tested with special files, long names and sparse files, and the same format the seed's
 * `tar -czf` produced. Exit 1 means "some file changed while being read": the archive is still
 * usable, so it is recorded as a warning rather than failing a nightly backup of a live folder.
 */
async function hostTar(dir: string, exclude: readonly string[], out: Writable, signal: AbortSignal, warnings: string[]): Promise<void> {
  const st = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`directory ${dir}: ${err.code === 'ENOENT' ? 'does not exist' : err.message}`);
  });
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
  const args = ['-C', dir, ...exclude.flatMap((e) => ['--exclude', e]), '-cf', '-', '.'];
  const child = spawn('tar', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = new TailBuffer(2048);
  child.stderr.on('data', (c: Buffer) => stderr.push(c));
  const exited = new Promise<number | null>((res, rej) => {
    child.once('error', rej);
    child.once('close', (code) => res(code));
  });
  const kill = (): void => void child.kill('SIGTERM');
  signal.addEventListener('abort', kill, { once: true });
  try {
    await writeAll(child.stdout, out, signal);
    const code = await exited;
    if (code === 1) warnings.push(`tar: ${stderr.toString().trim() || 'some files changed while being archived'}`);
    else if (code !== 0) throw new Error(`tar exited with code ${code}: ${stderr.toString().trim() || '(no output)'}`);
  } catch (err) {
    kill();
    throw err;
  } finally {
    signal.removeEventListener('abort', kill);
  }
}

/**
 * Archives a named volume from a helper container that mounts it read-only at /data and sleeps;
 * tar runs through exec so its stdout streams with back-pressure. The container is removed in all cases.
 */
async function volumeTar(ctx: SourceContext, volume: string, out: Writable, signal: AbortSignal): Promise<void> {
  await withHelper(ctx, volume, true, async (id) => {
    const res = await ctx.docker.containers.exec(id, ['tar', '-C', '/data', '-cf', '-', '.'], { stdout: out, signal });
    if (res.exitCode !== 0) throw new Error(`tar in the helper container exited with code ${res.exitCode}: ${res.outputTail.trim() || '(no output)'}`);
  });
}

/** Runs `fn` with a sleeping helper container that mounts `volume` at /data; always removes it. */
export async function withHelper<T>(ctx: SourceContext, volume: string, readOnly: boolean, fn: (containerId: string) => Promise<T>): Promise<T> {
  if (!((await ctx.docker.images.id(ctx.helperImage)) !== undefined)) await ctx.docker.images.pull(ctx.helperImage);
  const id = await ctx.docker.containers.create({
    name: ctx.own.dockerName(`backup-helper-${randomBytes(4).toString('hex')}`),
    Image: ctx.helperImage,
    Entrypoint: ['sleep'],
    Cmd: ['86400'],
    Labels: ctx.own.selector({ [LABEL_JOB]: ctx.jobKey }),
    HostConfig: { Binds: [`${volume}:/data${readOnly ? ':ro' : ''}`], NetworkMode: 'none' },
  });
  try {
    await ctx.docker.containers.start(id);
    return await fn(id);
  } finally {
    await ctx.docker.containers.remove(id).catch((err: unknown) => ctx.log?.warn({ err: (err as Error).message }, 'could not remove the backup helper container'));
  }
}
