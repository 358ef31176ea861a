import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { BackupSpec } from '../manifests/kinds/backup.js';
import { backupDir } from './backup-descriptor.js';
import { readManifest } from './catalog.js';
import type { BackupDestination } from './destination.js';
import { planRestore, refuseFutureBackup, RestoreRefusedError, type RestoreItem } from './restore-plan.js';
import { runningServicesMounting, type ServicePauseDeps, withServicesStopped } from './service-pause.js';
import { prepareSources, type SourceContext } from './sources.js';
import { VerifyingStream, verifyBackup } from './verify.js';

export interface RestoreOptions {
  dest: BackupDestination;
  prefix: string;
  name: string;
  id: string;
  /** The Backup's current spec: what may be written, and where (the stored manifest only has to agree). */
  spec: BackupSpec;
  ctx: SourceContext;
  /** Restore only these sources (object names or selectors such as volume:NAME); all when absent. */
  only?: readonly string[];
  now: Date;
  /** Stops and starts the Services that mount what is restored. */
  services: ServicePauseDeps;
  signal?: AbortSignal;
  onProgress?: (p: RestoreProgress) => void;
}

/** What a restore will do, for the confirmation prompt: each object, where it goes, which Services it stops. */
export interface RestorePreview {
  id: string;
  items: { name: string; target: string; bytes: number; stops: string[] }[];
}

export interface RestoreProgress {
  object: string;
  /** 1-based, out of `objects`. */
  index: number;
  objects: number;
  /** Stored bytes read of this object so far, and of the objects already restored. */
  readBytes: number;
  doneBytes: number;
  /** Stored bytes of everything being restored. */
  totalBytes: number;
}

export interface RestoredObject {
  name: string;
  target: string;
  bytes: number;
  /** The Services stopped while it was written and started again. */
  restarted: string[];
}

export interface RestoreResult {
  id: string;
  restored: RestoredObject[];
}

/** A restore that failed part way: exactly what was restored, what failed, and what was not touched. */
export interface RestoreFailure {
  id: string;
  restored: readonly RestoredObject[];
  failed: { name: string; target: string; error: string };
  notRestored: readonly { name: string; target: string }[];
}

export class RestoreFailedError extends Error {
  override readonly name = 'RestoreFailedError';
  constructor(
    readonly id: string,
    readonly restored: readonly RestoredObject[],
    readonly failed: { name: string; target: string; error: string },
    readonly notRestored: readonly { name: string; target: string }[],
    options?: { cause?: unknown },
  ) {
    const list = (xs: readonly { name: string; target: string }[]): string => (xs.length ? xs.map((x) => `${x.name} (${x.target})`).join(', ') : 'none');
    super(
      `restore of backup ${id} failed at ${failed.name} (${failed.target}): ${failed.error}. Restored: ${list(restored)}. Not restored: ${list([failed, ...notRestored])}`,
      options,
    );
  }

  /** What crosses the agent's API (ndjson.ts sends an error's `details`), so the CLI reports it the same way. */
  get details(): RestoreFailure {
    return { id: this.id, restored: this.restored, failed: this.failed, notRestored: this.notRestored };
  }

  static from(d: RestoreFailure): RestoreFailedError {
    return new RestoreFailedError(d.id, d.restored, d.failed, d.notRestored);
  }
}

/** Reads the manifest, refuses a future-dated or mismatched backup, and says what a restore would do. Touches nothing. */
export async function previewRestore(opts: RestoreOptions): Promise<RestorePreview> {
  const items = await plannedItems(opts);
  const rows = [];
  for (const it of items) {
    const stops = it.source.mount ? await runningServicesMounting(opts.services, it.source.mount) : [];
    rows.push({ name: it.object.name, target: it.source.target, bytes: it.object.bytes, stops: stops.map((s) => s.service) });
  }
  return { id: opts.id, items: rows };
}

async function plannedItems(opts: RestoreOptions): Promise<RestoreItem[]> {
  refuseFutureBackup(opts.id, opts.now);
  const manifest = await readManifest(opts.dest, opts.prefix, opts.name, opts.id);
  return planRestore(manifest, prepareSources(opts.spec, opts.ctx), opts.only);
}

/**
 * Restores a backup over the live system, object by object in manifest order, into the targets the
 * current spec declares: a backup dated in the future, or whose manifest names a target the spec
 * does not, is refused; every object to restore is read and its sha256 checked before anything is
 * touched, and hashed again while it streams. Databases go through pg_restore (one transaction);
 * while a volume, directory or file is written, the Services that mount it are stopped (and held,
 * so the agent does not heal them), then started again. A failure part way is a RestoreFailedError
 * that lists what was restored and what was not.
 */
export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const items = await plannedItems(opts);
  const check = await verifyBackup(opts.dest, opts.prefix, opts.name, opts.id, new Set(items.map((it) => it.object.name)));
  if (!check.ok) {
    const why = [...check.problems, ...check.objects.filter((o) => !o.ok).map((o) => `${o.name}: ${o.problem ?? 'corrupt'}`)];
    throw new RestoreRefusedError(`backup ${opts.id} failed verification; nothing was restored: ${why.join('; ')}`);
  }
  const dir = backupDir(opts.prefix, opts.name, opts.id);
  const signal = opts.signal ?? new AbortController().signal;
  const totalBytes = items.reduce((n, it) => n + it.object.bytes, 0);
  const restored: RestoredObject[] = [];
  for (const [i, { object, source }] of items.entries()) {
    const doneBytes = restored.reduce((n, r) => n + r.bytes, 0);
    const progress = (readBytes: number): void => opts.onProgress?.({ object: object.name, index: i + 1, objects: items.length, readBytes, doneBytes, totalBytes });
    try {
      progress(0);
      const { restarted } = await withServicesStopped(opts.services, source.mount, `restore of Backup/${opts.name} ${opts.id}`, async () => {
        const verifying = new VerifyingStream(object);
        const raw = await opts.dest.get(`${dir}${object.name}`);
        const plain = decoded(raw, verifying, object.compression === 'gzip', progress);
        await source.restore(plain, signal);
        // The target has taken every byte; the object must also have ended where the manifest says.
        if (!verifying.writableFinished) throw new Error('the stored object was not read to its end');
      });
      restored.push({ name: object.name, target: source.target, bytes: object.bytes, restarted });
      progress(object.bytes);
    } catch (err) {
      const rest = items.slice(i + 1).map((it) => ({ name: it.object.name, target: it.source.target }));
      throw new RestoreFailedError(opts.id, restored, { name: object.name, target: source.target, error: (err as Error).message }, rest, { cause: err });
    }
  }
  return { id: opts.id, restored };
}

/** raw → sha256 check → (gunzip): the plain bytes a target takes, failing if the stored bytes are not the manifest's. */
function decoded(raw: Readable, verifying: VerifyingStream, gzip: boolean, progress: (readBytes: number) => void): Readable {
  let read = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      read += chunk.length;
      progress(read);
      done(null, chunk);
    },
  });
  const plain: Readable = gzip ? raw.pipe(counted).pipe(verifying).pipe(createGunzip()) : raw.pipe(counted).pipe(verifying);
  raw.once('error', (e) => counted.destroy(e));
  counted.once('error', (e) => verifying.destroy(e));
  verifying.once('error', (e) => plain.destroy(e));
  return plain;
}
