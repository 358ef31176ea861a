import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** Why a file was not read: each maps to one clear message, none quotes the file. */
export type ReadRefusal = 'not-regular' | 'too-large' | 'missing' | 'unreadable';

export type BoundedRead = { ok: true; data: Buffer } | { ok: false; reason: ReadRefusal; detail: string };

/**
 * O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer, and O_NOFOLLOW
 * refuses a symlink swapped in after the caller resolved it; the type is then checked on the open
 * descriptor, so no path race can turn a regular file into a device between check and read.
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;
const CHUNK = 64 * 1024;

function typeOf(mode: number): string {
  const t = mode & constants.S_IFMT;
  if (t === constants.S_IFIFO) return 'a FIFO';
  if (t === constants.S_IFCHR) return 'a character device';
  if (t === constants.S_IFBLK) return 'a block device';
  if (t === constants.S_IFSOCK) return 'a socket';
  if (t === constants.S_IFDIR) return 'a directory';
  return 'not a regular file';
}

function refusal(err: unknown): BoundedRead {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  if (code === 'ENOENT') return { ok: false, reason: 'missing', detail: 'does not exist' };
  if (code === 'ELOOP') return { ok: false, reason: 'not-regular', detail: 'is a symbolic link' };
  return { ok: false, reason: 'unreadable', detail: `cannot be read (${code})` };
}

/**
 * Reads at most `maxBytes` of a regular file, counting while reading: the size `stat` reports is
 * not trusted (a file can grow, /proc files report 0). Never blocks on a FIFO or device.
 */
export async function readBoundedFile(path: string, maxBytes: number): Promise<BoundedRead> {
  let fh;
  try {
    fh = await open(path, OPEN_FLAGS);
  } catch (err) {
    return refusal(err);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { ok: false, reason: 'not-regular', detail: `is ${typeOf(st.mode)}, not a regular file` };
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(Math.min(CHUNK, maxBytes + 1 - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) return { ok: false, reason: 'too-large', detail: `is larger than ${maxBytes} bytes` };
      chunks.push(buf.subarray(0, bytesRead));
    }
    return { ok: true, data: Buffer.concat(chunks, total) };
  } catch (err) {
    return refusal(err);
  } finally {
    await fh.close();
  }
}

/** The same, synchronously, for the validation checks (which are synchronous). */
export function readBoundedFileSync(path: string, maxBytes: number): BoundedRead {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    return refusal(err);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, reason: 'not-regular', detail: `is ${typeOf(st.mode)}, not a regular file` };
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(Math.min(CHUNK, maxBytes + 1 - total));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) return { ok: false, reason: 'too-large', detail: `is larger than ${maxBytes} bytes` };
      chunks.push(buf.subarray(0, n));
    }
    return { ok: true, data: Buffer.concat(chunks, total) };
  } catch (err) {
    return refusal(err);
  } finally {
    closeSync(fd);
  }
}
