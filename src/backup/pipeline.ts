import { createHash } from 'node:crypto';
import { PassThrough, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { BackupDestination } from './destination.js';

/**
 * Writes a source's bytes into `out` and resolves when all of them are written (it must not end
 * `out`); rejects if the source failed. It must stop promptly when `signal` aborts. Respecting
 * `out`'s back-pressure is what keeps memory flat: a slow upload slows the producer.
 */
export type Producer = (out: Writable, signal: AbortSignal) => Promise<void>;

export interface StreamProgress {
  /** Bytes read from the source so far. */
  rawBytes: number;
  /** Bytes handed to the destination so far (after compression). */
  storedBytes: number;
}

export interface StreamResult {
  key: string;
  rawBytes: number;
  bytes: number;
  sha256: string;
}

/** Which step of a backup failed; the error message starts with it, and the failures metric is labelled by it. */
export type BackupStep = 'dump' | 'upload' | 'manifest' | 'snapshot';

export class BackupStepError extends Error {
  override readonly name = 'BackupStepError';
  constructor(
    readonly step: BackupStep,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${step} failed: ${message}`, options);
  }
}

/** Counts and sha256-hashes the bytes passing through, unchanged. */
export class HashingCounter extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly onChunk?: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onChunk?.(this.bytes);
    done(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export interface StreamOptions {
  produce: Producer;
  destination: BackupDestination;
  key: string;
  /** gzip level 1-9, or undefined to store the bytes as produced (pg_dump's custom format is compressed already). */
  gzipLevel?: number;
  contentType?: string;
  signal?: AbortSignal;
  onProgress?: (p: StreamProgress) => void;
  /** Minimum interval between progress calls. */
  progressIntervalMs?: number;
}

/** Bytes buffered between the producer and compression; back-pressure does the rest. */
const BUFFER_BYTES = 1024 * 1024;

/**
 * Streams one object: producer → (gzip) → sha256 + byte count → destination.put, all concurrently,
 * nothing buffered whole and nothing written to a temporary file. The stored object's sha256 and
 * size are what the manifest records, so `verify` can check an object without decompressing it.
 *
 * On failure everything is torn down: the producer is aborted (pg_dump gets EPIPE and exits), and
 * the body stream errors so the destination discards the partial object. The error is a
 * BackupStepError naming the step that failed first: "dump" for the producer, "upload" for the
 * destination.
 */
export async function streamToDestination(opts: StreamOptions): Promise<StreamResult> {
  const ac = new AbortController();
  const onOuterAbort = (): void => ac.abort(opts.signal?.reason);
  if (opts.signal?.aborted) onOuterAbort();
  else opts.signal?.addEventListener('abort', onOuterAbort, { once: true });

  let rawBytes = 0;
  let lastProgress = 0;
  const interval = opts.progressIntervalMs ?? 250;
  const report = (force: boolean): void => {
    if (!opts.onProgress) return;
    const now = Date.now();
    if (!force && now - lastProgress < interval) return;
    lastProgress = now;
    opts.onProgress({ rawBytes, storedBytes: hasher.bytes });
  };
  const input = new PassThrough({ highWaterMark: BUFFER_BYTES });
  const rawCounter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      rawBytes += chunk.length;
      done(null, chunk);
    },
  });
  const hasher = new HashingCounter(() => report(false));

  let first: BackupStepError | undefined;
  const fail = (step: BackupStep, err: unknown): BackupStepError => {
    const e = err instanceof BackupStepError ? err : new BackupStepError(step, (err as Error).message, { cause: err });
    if (!first) {
      first = e;
      ac.abort(e);
      input.destroy(e);
    }
    return e;
  };

  const stages: (NodeJS.ReadableStream | NodeJS.WritableStream)[] = [input, rawCounter];
  if (opts.gzipLevel !== undefined) stages.push(createGzip({ level: opts.gzipLevel }));
  stages.push(hasher);

  const chain = pipeline(stages as [NodeJS.ReadableStream, ...NodeJS.WritableStream[]]).catch((err: unknown) => {
    throw fail('dump', err);
  });
  const upload = opts.destination.put(opts.key, hasher, { signal: ac.signal, ...(opts.contentType ? { contentType: opts.contentType } : {}) }).catch((err: unknown) => {
    throw fail('upload', err);
  });
  const produced = (async () => {
    try {
      await opts.produce(input, ac.signal);
    } catch (err) {
      throw fail('dump', err);
    }
    if (ac.signal.aborted) throw first ?? fail('dump', new Error('aborted'));
    input.end();
  })();

  const results = await Promise.allSettled([produced, chain, upload]);
  opts.signal?.removeEventListener('abort', onOuterAbort);
  if (first) throw first;
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const stored = (results[2] as PromiseFulfilledResult<{ bytes: number }>).value;
  if (stored.bytes !== hasher.bytes) {
    throw new BackupStepError('upload', `${opts.key}: the destination stored ${stored.bytes} bytes but ${hasher.bytes} were sent`);
  }
  report(true);
  return { key: opts.key, rawBytes, bytes: hasher.bytes, sha256: hasher.digest() };
}
