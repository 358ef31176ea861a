import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type BackupDestination, ListingError, ObjectNotFoundError, type PutOptions, type StoredObject } from '../backup/destination.js';
import { slabPool } from './slab-pool.js';

/** In-flight writes carry this suffix; they are never listed, so they never look like objects. */
const PARTIAL = '.partial';
/** How much is written between two background fdatasyncs of an object being written. */
const SYNC_EVERY_BYTES = 32 * 1024 * 1024;

/**
 * Backup objects as files under a root directory (the embedded default when no bucket is set).
 * A put writes `<key>.<random>.partial`, fsyncs it and renames it into place, so a crash or a failed
 * stream never leaves a complete-looking object. Files are 0600 and directories 0700: backups hold
 * the database and the .env file.
 */
export class LocalDestination implements BackupDestination {
  readonly description: string;

  constructor(private readonly root: string) {
    this.description = root;
  }

  private pathOf(key: string): string {
    const parts = key.split('/');
    if (key.length === 0 || parts.some((p) => p === '' || p === '.' || p === '..') || key.endsWith(PARTIAL)) {
      throw new Error(`invalid object key ${JSON.stringify(key)}`);
    }
    return join(this.root, ...parts);
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<{ bytes: number }> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${randomBytes(6).toString('hex')}${PARTIAL}`;
    const fh = await open(tmp, 'wx', 0o600);
    const file = new FileSink(fh);
    try {
      await pipeline(body, file, { signal: opts.signal });
      await fh.close();
      await rename(tmp, path);
    } catch (err) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw new Error(`write ${key} to ${this.root}: ${(err as Error).message}`, { cause: err });
    }
    await syncDir(dirname(path));
    return { bytes: file.bytes };
  }

  async get(key: string): Promise<Readable> {
    const path = this.pathOf(key);
    const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new ObjectNotFoundError(key);
      throw err;
    });
    // Opened before returning so a missing object rejects here rather than as a stream error later.
    return fh.createReadStream();
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const start = dirKey ? join(this.root, ...dirKey.split('/')) : this.root;
    const out: StoredObject[] = [];
    const walk = async (dir: string, keyBase: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && dir === start) return;
        throw new ListingError(`list ${dir}: ${(err as Error).message}`, { cause: err });
      }
      for (const e of entries) {
        const key = keyBase ? `${keyBase}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(join(dir, e.name), key);
        } else if (e.isFile() && !e.name.endsWith(PARTIAL) && key.startsWith(prefix)) {
          try {
            const st = await stat(join(dir, e.name));
            out.push({ key, size: st.size, lastModified: st.mtime });
          } catch (err) {
            // Deleted between readdir and stat: it is gone, which is what a listing would say a moment later.
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ListingError(`stat ${key}: ${(err as Error).message}`, { cause: err });
          }
        }
      }
    };
    await walk(start, dirKey);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(keys: readonly string[]): Promise<void> {
    const dirs = new Set<string>();
    for (const key of keys) {
      const path = this.pathOf(key);
      await unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw new Error(`delete ${key} from ${this.root}: ${err.message}`, { cause: err });
      });
      dirs.add(dirname(path));
    }
    // Empty backup folders left behind would list as nothing but clutter the directory.
    for (const dir of [...dirs].sort((a, b) => b.length - a.length)) await removeEmptyUpTo(dir, this.root);
  }
}

async function removeEmptyUpTo(dir: string, root: string): Promise<void> {
  let d = dir;
  while (d.startsWith(root + sep) && d !== root) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
    d = dirname(d);
  }
}

/**
 * Writes a stream into an open file, one write at a time, and fsyncs it before it finishes (so the
 * rename that follows never exposes unsynced data). Written back as it goes, one fdatasync at a
 * time beside the writes, so the final fsync has little left to do instead of the whole object.
 * A chunk whose write has completed is given back to the slab pool: the file is its last reader.
 */
class FileSink extends Writable {
  bytes = 0;
  private unsynced = 0;
  private syncing: Promise<void> | undefined;
  private syncFailure: Error | undefined;

  constructor(private readonly fh: FileHandle) {
    super({ highWaterMark: 0 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.writeFully(chunk).then(() => {
      slabPool.giveBack(chunk);
      this.bytes += chunk.length;
      this.unsynced += chunk.length;
      if (this.unsynced >= SYNC_EVERY_BYTES && !this.syncing) {
        this.unsynced = 0;
        // Linux reports a writeback error to one fsync only: a failed background sync fails the object.
        this.syncing = this.fh.datasync().then(
          () => (this.syncing = undefined),
          (err: unknown) => {
            this.syncing = undefined;
            this.syncFailure ??= err as Error;
          },
        );
      }
      done(this.syncFailure);
    }, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    Promise.resolve(this.syncing)
      .then(() => {
        if (this.syncFailure) throw this.syncFailure;
        return this.fh.sync();
      })
      .then(() => done(), done);
  }

  /** A write to a file can be short (a full disk part way): the rest is written, or its error thrown. */
  private async writeFully(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; ) {
      const { bytesWritten } = await this.fh.write(chunk, at, chunk.length - at);
      if (bytesWritten === 0) throw new Error('the file took no bytes');
      at += bytesWritten;
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
