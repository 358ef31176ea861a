import type { Readable } from 'node:stream';

export interface PutOptions {
  contentType?: string;
  /** Aborting fails the put and leaves no object under `key`. */
  signal?: AbortSignal;
}

export interface StoredObject {
  key: string;
  size: number;
  lastModified: Date;
}

/**
 * Where backup objects go: an S3 bucket or a local directory. Keys are '/'-separated and relative to
 * the destination's root (bucket or directory).
 *
 * Contract, checked by test/integration/destination-contract.test.ts against every implementation:
 * - `put` streams `body` and either stores the whole object or, when the body errors or the write
 *   fails, leaves nothing readable under `key` (and rejects).
 * - `list` returns every object under `prefix` or throws; it never returns a partial listing, since
 *   retention decides what to delete from it.
 * - `delete` is idempotent: keys already gone are success.
 * - `get` rejects with {@link ObjectNotFoundError} for a missing key.
 */
export interface BackupDestination {
  /** For messages and status, e.g. s3://bucket/prefix or /var/backups; never holds credentials. */
  readonly description: string;
  put(key: string, body: Readable, opts?: PutOptions): Promise<{ bytes: number }>;
  get(key: string): Promise<Readable>;
  list(prefix: string): Promise<StoredObject[]>;
  delete(keys: readonly string[]): Promise<void>;
}

export class ObjectNotFoundError extends Error {
  override readonly name = 'ObjectNotFoundError';
  constructor(readonly key: string) {
    super(`object ${key} does not exist`);
  }
}

/** A listing that could not be completed; whoever asked must act as if it knows nothing. */
export class ListingError extends Error {
  override readonly name = 'ListingError';
}

/** Joins key segments with '/', dropping empty ones and stray slashes ('' and 'a/' are fine prefixes). */
export function joinKey(...parts: string[]): string {
  return parts
    .flatMap((p) => p.split('/'))
    .filter((p) => p.length > 0)
    .join('/');
}
