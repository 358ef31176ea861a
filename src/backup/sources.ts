import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, isAbsolute, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { DockerClients } from '../adapters/docker/index.js';
import { TailBuffer } from '../adapters/demux.js';
import { resourceKey } from '../engine/reconcile.js';
import type { BackupSpec } from '../manifests/kinds/backup.js';
import type { Resource } from '../manifests/resource.js';
import type { SecretSource } from '../manifests/secrets.js';
import type { Ownership } from '../reconcilers/ownership.js';
import type { MountTarget } from './mounting-containers.js';
import type { Producer } from './pipeline.js';
import type { PostgresClientMode } from './postgres-client.js';
import { postgresSource } from './postgres-source.js';
import { hostUntar, replaceFile } from './host-restore.js';
import { volumeTar, volumeUntar } from './volume-archive.js';
import { writeAll } from './write-all.js';

export interface SourceContext {
  docker: DockerClients;
  own: Ownership;
  secrets: SecretSource;
  /** An image on the engine for the containers volumes are read through; unset: chosen among those present (volume-archive.ts). */
  helperImage?: string;
  /** The image one-off pg_dump containers run by default (certitrack-agent:<version>). */
  agentImage?: string;
  /** Where network PostgreSQL sources run their tools: a one-off container (default) or this process. */
  postgresClient?: PostgresClientMode;
  /** Relative directory and file paths are relative to the manifest file's folder. */
  baseDir: string;
  /** "Backup/<name>", put on helper containers so leftovers can be found and removed. */
  jobKey: string;
  log?: Logger;
}

/** What every source context of this agent shares; {@link sourceContextFor} adds the Backup's own. */
export type SourceDeps = Pick<SourceContext, 'docker' | 'own' | 'secrets' | 'helperImage' | 'agentImage' | 'postgresClient'>;

/** The context a Backup's sources are backed up and restored in: paths relative to its manifest, helpers labelled with its key. */
export function sourceContextFor(deps: SourceDeps, res: Resource<BackupSpec>, log?: Logger): SourceContext {
  return { ...deps, baseDir: res.source.dir, jobKey: resourceKey('Backup', res.name), ...(log ? { log } : {}) };
}

/** A source ready to stream or restore: where its object goes, how it is compressed, what the manifest says about it. */
export interface PreparedSource {
  /** File name inside the backup's folder, unique within the backup. */
  name: string;
  /** What the manifest records about the source (never a secret); a restore compares it with the spec's. */
  info: Record<string, unknown>;
  compression: 'gzip' | 'none';
  /** Set when compression is gzip. */
  gzipLevel?: number;
  contentType: string;
  produce: Producer;
  /** Non-fatal problems seen while producing (e.g. a file changed while tar read it). */
  warnings: string[];
  /** `pg_dump --version`, once produce has run, for the manifest. */
  toolVersion?: () => string | undefined;
  /** What a restore writes, for prompts and reports: "volume t-files", "database appdb (service db)". */
  target: string;
  /** What `restore --only` accepts for it besides the object name: "volume:files", "postgres:appdb", "directory:PATH". */
  selectors: string[];
  /** The volume or host path a restore writes: the Services that mount it are stopped meanwhile. */
  mount?: MountTarget;
  /** Writes the object's plain (decompressed) bytes back over the live target. */
  restore: (body: Readable, signal: AbortSignal) => Promise<void>;
}

export const slug = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 60) || 'x';

export const hostPath = (path: string, baseDir: string): string => (isAbsolute(path) ? path : resolve(baseDir, path));

export function prepareSources(spec: BackupSpec, ctx: SourceContext): PreparedSource[] {
  const level = spec.compression.algorithm === 'gzip' ? spec.compression.level : undefined;
  const gz = level !== undefined;
  const compressed = { compression: gz ? ('gzip' as const) : ('none' as const), ...(gz ? { gzipLevel: level } : {}) };
  return spec.sources.map((s, i) => {
    const n = String(i + 1).padStart(2, '0');
    if ('postgres' in s) return postgresSource(s.postgres, `${n}-postgres-${slug(s.postgres.database)}.dump`, ctx, spec.timeout);
    if ('directory' in s) {
      const dir = hostPath(s.directory.path, ctx.baseDir);
      const warnings: string[] = [];
      return {
        name: `${n}-directory-${slug(basename(dir))}.tar${gz ? '.gz' : ''}`,
        info: { type: 'directory', path: dir, exclude: s.directory.exclude },
        ...compressed,
        contentType: gz ? 'application/gzip' : 'application/x-tar',
        warnings,
        produce: (out, signal) => hostTar(dir, s.directory.exclude, out, signal, warnings),
        target: `directory ${dir}`,
        selectors: [`directory:${dir}`, `directory:${s.directory.path}`],
        mount: { path: dir },
        restore: (body, signal) => hostUntar(dir, body, signal),
      };
    }
    if ('volume' in s) {
      const vol = ctx.own.dockerName(s.volume.name);
      return {
        name: `${n}-volume-${slug(s.volume.name)}.tar${gz ? '.gz' : ''}`,
        info: { type: 'volume', name: s.volume.name, dockerName: vol },
        ...compressed,
        contentType: gz ? 'application/gzip' : 'application/x-tar',
        warnings: [],
        produce: (out, signal) => volumeTar(ctx, vol, out, signal),
        target: `volume ${vol}`,
        selectors: [`volume:${s.volume.name}`],
        mount: { volume: vol },
        restore: (body, signal) => volumeUntar(ctx, vol, body, signal),
      };
    }
    if ('file' in s) {
      const path = hostPath(s.file.path, ctx.baseDir);
      return {
        name: `${n}-file-${slug(basename(path))}${gz ? '.gz' : ''}`,
        info: { type: 'file', path },
        ...compressed,
        contentType: gz ? 'application/gzip' : 'application/octet-stream',
        warnings: [],
        produce: async (out, signal) => writeAll(createReadStream(path, { signal }), out, signal),
        target: `file ${path}`,
        selectors: [`file:${path}`, `file:${s.file.path}`],
        mount: { path },
        restore: (body, signal) => replaceFile(path, body, signal),
      };
    }
    throw new Error('ebsSnapshot sources are not streamed; the snapshot path handles them');
  });
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
