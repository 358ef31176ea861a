import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { TailBuffer } from '../adapters/demux.js';
import type { BackupSpec } from '../manifests/kinds/backup.js';
import { listBackups, readManifest } from './catalog.js';
import type { BackupDestination } from './destination.js';
import { type BackupManifest, backupDir, type ManifestObject } from './backup-descriptor.js';
import { pgEnv, type SourceContext, serviceContainer, withHelper } from './sources.js';

export interface ObjectCheck {
  name: string;
  ok: boolean;
  bytes: number;
  sha256: string;
  problem?: string;
}

export interface VerifyResult {
  id: string;
  ok: boolean;
  /** Problems with the backup as a whole (no manifest, listed objects missing). */
  problems: string[];
  objects: ObjectCheck[];
}

/** Passes bytes through while hashing them; fails the stream at its end if size or sha256 differ from the manifest. */
export class VerifyingStream extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;
  actualSha256 = '';

  constructor(private readonly expected: ManifestObject) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.actualSha256 = this.hash.digest('hex');
    if (this.bytes !== this.expected.bytes) return done(new Error(`${this.expected.name}: ${this.bytes} bytes read, manifest says ${this.expected.bytes}`));
    if (this.actualSha256 !== this.expected.sha256) return done(new Error(`${this.expected.name}: sha256 ${this.actualSha256} does not match the manifest's ${this.expected.sha256}`));
    done();
  }
}

/**
 * Re-reads every object of a backup and checks its size and sha256 against the manifest (and the
 * listing against the manifest). Never throws for a bad backup: the result says what is wrong.
 * Throws only when the destination cannot be read at all.
 */
export async function verifyBackup(dest: BackupDestination, prefix: string, name: string, id: string): Promise<VerifyResult> {
  const entry = (await listBackups(dest, prefix, name)).find((b) => b.id === id);
  if (!entry) return { id, ok: false, problems: [`backup ${id} does not exist`], objects: [] };
  if (!entry.complete) return { id, ok: false, problems: ['incomplete: no manifest.json (the run failed or is still running)'], objects: [] };
  let manifest: BackupManifest;
  try {
    manifest = await readManifest(dest, prefix, name, id);
  } catch (err) {
    return { id, ok: false, problems: [(err as Error).message], objects: [] };
  }
  const dir = backupDir(prefix, name, id);
  const listed = new Map(entry.objects.map((o) => [o.key.slice(dir.length), o.size]));
  const objects: ObjectCheck[] = [];
  for (const obj of manifest.objects) {
    const size = listed.get(obj.name);
    if (size === undefined) {
      objects.push({ name: obj.name, ok: false, bytes: 0, sha256: '', problem: 'missing from the destination' });
      continue;
    }
    const check = new VerifyingStream(obj);
    try {
      await pipeline(await dest.get(`${dir}${obj.name}`), check, discard());
      objects.push({ name: obj.name, ok: size === obj.bytes, bytes: check.bytes, sha256: check.actualSha256, ...(size !== obj.bytes ? { problem: `listed size ${size} differs from the manifest's ${obj.bytes}` } : {}) });
    } catch (err) {
      objects.push({ name: obj.name, ok: false, bytes: check.bytes, sha256: check.actualSha256, problem: (err as Error).message });
    }
  }
  return { id, ok: objects.every((o) => o.ok), problems: [], objects };
}

/**
 * Wraps a command so that stdin is read to its end even after the command stops reading (tar stops
 * at its end-of-archive blocks, leaving the record padding): otherwise the writer sees EPIPE or a
 * premature close, and the object's sha256 could not be checked to the last byte. The command's
 * own exit code is kept.
 */
export const drainingStdin = (cmd: readonly string[]): string[] => ['sh', '-c', '"$@"; rc=$?; cat >/dev/null; exit $rc', 'sh', ...cmd];

const discard = (): Writable =>
  new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });

export interface RestoreOptions {
  dest: BackupDestination;
  prefix: string;
  name: string;
  id: string;
  /** The Backup's current spec: database passwords come from it (the manifest holds no secret). */
  spec: BackupSpec;
  ctx: SourceContext;
  signal?: AbortSignal;
  /** Called as each object starts and ends. */
  onObject?: (name: string, phase: 'start' | 'done', bytes?: number) => void;
}

export interface RestoreResult {
  id: string;
  restored: { name: string; target: string; bytes: number }[];
}

/**
 * Restores a backup over the live system, object by object, in manifest order: the database
 * through pg_restore --clean --if-exists --no-owner --single-transaction (inside the database
 * container, fed on stdin), directories and volumes untarred over their current content (files not
 * in the backup are left), files replaced atomically. The whole backup is verified first, so a
 * corrupted backup is refused before anything is touched; each object is hashed again while it streams.
 */
export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const check = await verifyBackup(opts.dest, opts.prefix, opts.name, opts.id);
  if (!check.ok) {
    const why = [...check.problems, ...check.objects.filter((o) => !o.ok).map((o) => `${o.name}: ${o.problem ?? 'corrupt'}`)];
    throw new Error(`backup ${opts.id} failed verification; nothing was restored: ${why.join('; ')}`);
  }
  const manifest = await readManifest(opts.dest, opts.prefix, opts.name, opts.id);
  const dir = backupDir(opts.prefix, opts.name, opts.id);
  const signal = opts.signal ?? new AbortController().signal;
  const restored: RestoreResult['restored'] = [];
  for (const obj of manifest.objects) {
    opts.onObject?.(obj.name, 'start');
    const verifying = new VerifyingStream(obj);
    const raw = await opts.dest.get(`${dir}${obj.name}`);
    const plain: Readable = obj.compression === 'gzip' ? raw.pipe(verifying).pipe(createGunzip()) : raw.pipe(verifying);
    raw.once('error', (e) => verifying.destroy(e));
    verifying.once('error', (e) => plain.destroy(e));
    const target = await restoreObject(obj, plain, opts, signal).catch((err: unknown) => {
      throw new Error(`restore ${obj.name}: ${(err as Error).message}`, { cause: err });
    });
    restored.push({ name: obj.name, target, bytes: verifying.bytes });
    opts.onObject?.(obj.name, 'done', verifying.bytes);
  }
  return { id: opts.id, restored };
}

async function restoreObject(obj: ManifestObject, body: Readable, opts: RestoreOptions, signal: AbortSignal): Promise<string> {
  const info = obj.source;
  switch (info.type) {
    case 'postgres':
      return restorePostgres(obj, body, opts, signal);
    case 'directory': {
      const path = String(info.path);
      await mkdir(path, { recursive: true });
      await hostUntar(path, body, signal);
      return path;
    }
    case 'volume': {
      const volume = String(info.dockerName ?? opts.ctx.own.dockerName(String(info.name)));
      await withHelper(opts.ctx, volume, false, async (id) => {
        const res = await opts.ctx.docker.containers.exec(id, drainingStdin(['tar', '-C', '/data', '-xf', '-']), { stdin: body, signal });
        if (res.exitCode !== 0) throw new Error(`untar into volume ${volume} exited with code ${res.exitCode}: ${res.outputTail.trim()}`);
      });
      return `volume ${volume}`;
    }
    case 'file': {
      const path = String(info.path);
      await replaceFile(path, body, signal);
      return path;
    }
    default:
      throw new Error(`${obj.name}: unknown source type ${String(info.type)}`);
  }
}

async function restorePostgres(obj: ManifestObject, body: Readable, opts: RestoreOptions, signal: AbortSignal): Promise<string> {
  const service = String(obj.source.service);
  const database = String(obj.source.database);
  const user = String(obj.source.user ?? 'postgres');
  const declared = opts.spec.sources.find((s) => 'postgres' in s && s.postgres.service === service && s.postgres.database === database);
  const env = declared && 'postgres' in declared ? pgEnv(declared.postgres, opts.ctx) : {};
  const id = await serviceContainer(opts.ctx.docker, opts.ctx.own, service);
  const docker = opts.ctx.docker;
  // A dropped database is created again (empty, owned by the dump's user) so pg_restore has somewhere to go.
  const literal = `'${database.replace(/'/g, "''")}'`;
  const exists = await docker.containers.exec(id, ['psql', '-U', user, '-d', 'postgres', '-tAc', `SELECT 1 FROM pg_database WHERE datname = ${literal}`], { env });
  if (exists.exitCode !== 0) throw new Error(`checking database ${database}: psql exited with code ${exists.exitCode}: ${exists.outputTail.trim()}`);
  if (exists.outputTail.trim() !== '1') {
    const created = await docker.containers.exec(id, ['createdb', '-U', user, '-O', user, database], { env });
    if (created.exitCode !== 0) throw new Error(`creating database ${database}: createdb exited with code ${created.exitCode}: ${created.outputTail.trim()}`);
  }
  const res = await docker.containers.exec(id, drainingStdin(['pg_restore', '--clean', '--if-exists', '--no-owner', '--single-transaction', '-U', user, '-d', database]), { stdin: body, env, signal });
  if (res.exitCode !== 0) throw new Error(`pg_restore into ${database} exited with code ${res.exitCode}: ${res.outputTail.trim()}`);
  return `database ${database} (service ${service})`;
}

async function hostUntar(dir: string, body: Readable, signal: AbortSignal): Promise<void> {
  const [cmd, ...args] = drainingStdin(['tar', '-C', dir, '-xf', '-']) as [string, ...string[]];
  const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], signal });
  const stderr = new TailBuffer(2048);
  child.stderr.on('data', (c: Buffer) => stderr.push(c));
  const exited = new Promise<number | null>((res, rej) => {
    child.once('error', rej);
    child.once('close', (code) => res(code));
  });
  try {
    await pipeline(body, child.stdin as Writable);
  } catch (err) {
    child.kill('SIGTERM');
    await exited.catch(() => undefined);
    throw err;
  }
  const code = await exited;
  if (code !== 0) throw new Error(`tar -x into ${dir} exited with code ${code}: ${stderr.toString().trim()}`);
}

/** Writes beside the file and renames over it, so a failed restore leaves the old file as it was. */
async function replaceFile(path: string, body: Readable, signal: AbortSignal): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${randomBytes(4).toString('hex')}.restore`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await pipeline(body, fh.createWriteStream({ flush: true }), { signal });
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
