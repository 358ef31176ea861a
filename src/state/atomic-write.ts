import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsync on a directory: makes the names created, renamed or removed in it durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes and fsyncs a file with exactly `mode`; `flags` 'wx' refuses an existing file. */
export async function writeFileDurably(path: string, data: string | Uint8Array, mode: number, flags: 'w' | 'wx' = 'w'): Promise<void> {
  const fh = await open(path, flags, mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // umask may have narrowed or widened what open() asked for
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replaces whatever is at `path` (nothing, a file, a link) with what `create` makes under a
 * temporary name beside it, in one rename(2), then fsyncs the directory: a reader sees the old
 * entry or the new one, never neither and never half.
 */
export async function replaceAtomically(path: string, create: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await create(tmp);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(path));
}

/** Writes a file so that a reader (or a crash) sees either the old content or the new, never half. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  return replaceAtomically(path, (tmp) => writeFileDurably(tmp, data, mode));
}
