import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Transform, type Writable } from 'node:stream';
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

/** Counts and sha256-hashes the bytes handed to the destination. */
class StoredBytes {
  private readonly hash = createHash('sha256');
  bytes = 0;

  add(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
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
/** Bytes handed to the destination at a time. */
const BATCH_BYTES = 1024 * 1024;

/**
 * Streams one object: producer → (gzip) → sha256 + byte count → destination.put, all concurrently,
 * nothing buffered whole and nothing written to a temporary file. The stored object's sha256 and
 * size are what the manifest records, so `verify` can check an object without decompressing it.
 *
 * The destination reads from a stream of its own (`body`), fed here chunk by chunk: whatever the
 * destination does to it when it fails (a local write's ENOSPC destroys it, an S3 upload stops
 * reading) stays on its side, so the step blamed is the side that failed first: "dump" for the
 * source (the producer, compression), "upload" for the destination. The other side is then torn
 * down (the producer aborted: pg_dump gets EPIPE and exits; `body` destroyed, so the destination
 * discards the partial object), and its own errors are consequences, not reported.
 */
export async function streamToDestination(opts: StreamOptions): Promise<StreamResult> {
  const ac = new AbortController();
  const onOuterAbort = (): void => ac.abort(opts.signal?.reason);
  if (opts.signal?.aborted) onOuterAbort();
  else opts.signal?.addEventListener('abort', onOuterAbort, { once: true });

  let rawBytes = 0;
  let lastProgress = 0;
  const interval = opts.progressIntervalMs ?? 250;
  const hasher = new StoredBytes();
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
  const body = new PassThrough();
  // What the destination does with its stream is its own; its failure is counted through put's rejection or the close below.
  body.on('error', () => undefined);

  let first: BackupStepError | undefined;
  const fail = (step: BackupStep, err: unknown): BackupStepError => {
    const e = err instanceof BackupStepError ? err : new BackupStepError(step, (err as Error).message, { cause: err });
    if (!first) {
      first = e;
      ac.abort(e);
      input.destroy(e);
      if (last !== input) last.destroy(e);
      // Without an error: the destination may not be listening yet; a premature close fails its put all the same.
      body.destroy();
    }
    return first;
  };

  // The source side ends in `last`, which is read here and written on into `body`. Without
  // compression the producer's bytes are read straight from `input` (raw and stored are the same
  // bytes): no stage between them, which is the agent's whole cost over `pg_dump > file`.
  const gzip = opts.gzipLevel !== undefined;
  const last = gzip ? new PassThrough() : input;
  const chain = gzip
    ? pipeline(input, rawCounter, createGzip({ level: opts.gzipLevel }), last).catch((err: unknown) => {
        throw first ?? fail('dump', err);
      })
    : Promise.resolve();
  const upload = opts.destination.put(opts.key, body, { signal: ac.signal, ...(opts.contentType ? { contentType: opts.contentType } : {}) }).catch((err: unknown) => {
    throw fail('upload', err);
  });
  // The destination closing its stream before the end is its failure, even when it says nothing.
  const bodyClosedEarly = (): void => {
    if (!body.writableFinished) fail('upload', (body.errored as Error | null) ?? new Error('the destination stopped reading before the end'));
  };
  body.once('close', bodyClosedEarly);
  const fed = (async () => {
    // Handed on in batches: a destination writing a file makes one write(2) per chunk through
    // libuv's thread pool, and Docker's 32 KiB frames made that, not pg_dump, the limit on a busy host.
    let batch: Buffer[] = [];
    let batched = 0;
    const flush = async (): Promise<void> => {
      if (batched === 0) return;
      const out = batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch, batched);
      batch = [];
      batched = 0;
      if (!body.write(out)) await once(body, 'drain', { signal: ac.signal });
    };
    try {
      for await (const chunk of last as AsyncIterable<Buffer>) {
        if (!gzip) rawBytes += chunk.length;
        hasher.add(chunk);
        report(false);
        batch.push(chunk);
        batched += chunk.length;
        if (batched >= BATCH_BYTES) await flush();
      }
      await flush();
    } catch (err) {
      // An abort here comes from the other side's failure (already recorded) or from the caller.
      throw first ?? fail(ac.signal.aborted ? 'upload' : 'dump', err);
    }
    body.end();
  })();
  const produced = (async () => {
    try {
      await opts.produce(input, ac.signal);
    } catch (err) {
      throw fail('dump', err);
    }
    if (ac.signal.aborted) throw first ?? fail('dump', new Error('aborted'));
    input.end();
  })();

  const results = await Promise.allSettled([produced, chain, fed, upload]);
  body.off('close', bodyClosedEarly);
  opts.signal?.removeEventListener('abort', onOuterAbort);
  if (first) throw first;
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const stored = (results[3] as PromiseFulfilledResult<{ bytes: number }>).value;
  if (stored.bytes !== hasher.bytes) {
    throw new BackupStepError('upload', `${opts.key}: the destination stored ${stored.bytes} bytes but ${hasher.bytes} were sent`);
  }
  report(true);
  return { key: opts.key, rawBytes, bytes: hasher.bytes, sha256: hasher.digest() };
}
