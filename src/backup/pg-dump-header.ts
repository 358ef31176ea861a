import { Writable } from 'node:stream';
import { writeWithBackpressure } from '../adapters/demux.js';

/** Enough for any custom-format header: the strings in it are a database name and two version strings. */
const HEADER_LIMIT = 8 * 1024;

const archiveVersion = (major: number, minor: number, rev: number): number => (major << 16) | (minor << 8) | rev;

/**
 * The pg_dump version recorded in a custom-format archive's header (pg_backup_archiver.c, ReadHead:
 * "PGDMP", archive version, int and offset sizes, format, compression, creation date, database
 * name, server version, pg_dump version), in `pg_dump --version`'s words. `undefined` when the
 * bytes are not such a header; `'more'` when they stop short of the version.
 */
export function dumpVersionFromHeader(head: Buffer): string | undefined | 'more' {
  if (head.length < 5) return head.toString('latin1') === 'PGDMP'.slice(0, head.length) ? 'more' : undefined;
  if (head.toString('latin1', 0, 5) !== 'PGDMP') return undefined;
  let at = 5;
  const byte = (): number => {
    if (at >= head.length) throw new RangeError('short');
    return head[at++] as number;
  };
  try {
    const version = archiveVersion(byte(), byte(), byte());
    // Only archives from pg_dump 8.4 (1.10) on record the versions.
    if (version < archiveVersion(1, 10, 0)) return undefined;
    const intSize = byte();
    if (intSize < 1 || intSize > 8) return undefined;
    byte(); // offset size
    byte(); // format
    // An int: a sign byte, then intSize little-endian bytes.
    const int = (): number => {
      const negative = byte() !== 0;
      let value = 0;
      for (let i = 0; i < intSize; i++) value += byte() * 2 ** (8 * i);
      return negative ? -value : value;
    };
    const str = (): string | undefined => {
      const length = int();
      if (length < 0) return undefined;
      if (at + length > head.length) throw new RangeError('short');
      at += length;
      return head.toString('utf8', at - length, at);
    };
    // Compression: an int (the zlib level) until 1.15 (pg_dump 16), an algorithm byte since.
    if (version >= archiveVersion(1, 15, 0)) byte();
    else int();
    for (let i = 0; i < 7; i++) int(); // creation date
    str(); // database name
    str(); // server version
    const dumpVersion = str();
    return dumpVersion === undefined ? undefined : `pg_dump (PostgreSQL) ${dumpVersion}`;
  } catch (err) {
    if (err instanceof RangeError) return head.length >= HEADER_LIMIT ? undefined : 'more';
    throw err;
  }
}

/**
 * Passes everything written on to `out` (never ending it) and reads the pg_dump version from the
 * first bytes on the way: the version the manifest records comes from the dump itself, with no
 * `pg_dump --version` exec beside every backup.
 */
export class DumpVersionTap extends Writable {
  private head: Buffer[] = [];
  private headBytes = 0;
  version: string | undefined;
  private reading = true;

  constructor(private readonly out: Writable) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.reading) this.look(chunk);
    const waiting = writeWithBackpressure(this.out, chunk);
    if (waiting) waiting.then(() => done(), done);
    else done();
  }

  private look(chunk: Buffer): void {
    // Copied: the chunk's memory goes back to its pool once the destination has written it.
    this.head.push(Buffer.from(chunk.subarray(0, HEADER_LIMIT - this.headBytes)));
    this.headBytes += Math.min(chunk.length, HEADER_LIMIT - this.headBytes);
    const found = dumpVersionFromHeader(Buffer.concat(this.head, this.headBytes));
    if (found === 'more' && this.headBytes < HEADER_LIMIT) return;
    this.version = found === 'more' ? undefined : found;
    this.reading = false;
    this.head = [];
  }
}
