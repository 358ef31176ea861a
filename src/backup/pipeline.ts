import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Transform, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
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

/** Bytes buffered between the producer and the sink (or compression); back-pressure does the rest. */
const BUFFER_BYTES = 1024 * 1024;
/** Bytes handed to the destination at a time. */
const BATCH_BYTES = 1024 * 1024;
/** Bytes the destination may have queued before the source waits (memory stays flat: at most about twice this). */
const BODY_BUFFER_BYTES = 4 * BATCH_BYTES;

/**
 * The end of the source side: counts and hashes what is to be stored and hands it to the
 * destination's stream in batches, waiting when that stream is full (which is what slows the
 * producer). A plain Writable doing this work in `_write`, rather than a readable stage iterated
 * with `for await`: when pg_dump's output came as ~20,000 reads per 240 MiB, a stream stage plus an
 * iterator promise per read took more of the agent's CPU than everything else together, CPU that
 * pg_dump and PostgreSQL needed on a 2-core host. Exec output now comes in 1 MiB slabs
 * (adapters/chunk-batcher.ts); gzip's and tar streams' chunks are still small.
 */
class StoredSink extends Writable {
  private batch: Buffer[] = [];
  private batched = 0;

  constructor(
    private readonly body: PassThrough,
    private readonly hasher: StoredBytes,
    private readonly onChunk: (bytes: number) => void,
    private readonly signal: AbortSignal,
  ) {
    super({ highWaterMark: BUFFER_BYTES });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.hasher.add(chunk);
    this.onChunk(chunk.length);
    // A batch already (an exec's output comes in slabs) goes on as it is, so that the destination
    // can give its memory back to the slab pool; small chunks (gzip's, a tar stream's) are joined.
    if (chunk.length >= BATCH_BYTES / 2) {
      if (this.batched === 0) return this.hand(chunk, done);
      return this.flush((err) => (err ? done(err) : this.hand(chunk, done)));
    }
    this.batch.push(chunk);
    this.batched += chunk.length;
    if (this.batched >= BATCH_BYTES) this.flush(done);
    else done();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.flush((err) => {
      if (!err) this.body.end();
      done(err);
    });
  }

  // Handed on in batches: a destination writing a file makes one write(2) per chunk through
  // libuv's thread pool, and Docker's small frames made that, not pg_dump, the limit on a busy host.
  private flush(done: (err?: Error | null) => void): void {
    if (this.batched === 0) return done();
    const out = this.batch.length === 1 ? (this.batch[0] as Buffer) : Buffer.concat(this.batch, this.batched);
    this.batch = [];
    this.batched = 0;
    this.hand(out, done);
  }

  private hand(out: Buffer, done: (err?: Error | null) => void): void {
    if (this.body.write(out)) return done();
    once(this.body, 'drain', { signal: this.signal }).then(() => done(), (err: unknown) => done(err as Error));
  }
}

/**
 * Streams one object: producer → (gzip) → sha256 + byte count → destination.put, all concurrently,
 * nothing buffered whole and nothing written to a temporary file. The stored object's sha256 and
 * size are what the manifest records, so `verify` can check an object without decompressing it.
 *
 * The destination reads from a stream of its own (`body`), fed here batch by batch: whatever the
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
  // Room for a few batches: the destination writes one (a file's write(2) on the thread pool, an
  // upload part) while the next are read, instead of reading stopping for every write.
  const body = new PassThrough({ highWaterMark: BODY_BUFFER_BYTES });
  // What the destination does with its stream is its own; its failure is counted through put's rejection or the close below.
  body.on('error', () => undefined);

  // Without compression the producer writes straight into the sink (raw and stored are the same
  // bytes): no stage between them, which is the agent's whole cost over `pg_dump > file`.
  const gzip = opts.gzipLevel !== undefined;
  const sink = new StoredSink(body, hasher, (n) => {
    if (!gzip) rawBytes += n;
    report(false);
  }, ac.signal);
  const compressed = gzip ? new PassThrough({ highWaterMark: BUFFER_BYTES }) : undefined;
  const input: Writable = compressed ?? sink;

  let first: BackupStepError | undefined;
  const fail = (step: BackupStep, err: unknown): BackupStepError => {
    const e = err instanceof BackupStepError ? err : new BackupStepError(step, (err as Error).message, { cause: err });
    if (!first) {
      first = e;
      ac.abort(e);
      input.destroy(e);
      if (sink !== input) sink.destroy(e);
      // Without an error: the destination may not be listening yet; a premature close fails its put all the same.
      body.destroy();
    }
    return first;
  };

  const rawCounter = (): Transform =>
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        rawBytes += chunk.length;
        done(null, chunk);
      },
    });
  // The source side ends when the sink has handed its last batch on and ended `body`.
  const fed = (compressed ? pipeline(compressed, rawCounter(), createGzip({ level: opts.gzipLevel }), sink) : finished(sink)).catch((err: unknown) => {
    // An abort here comes from the other side's failure (already recorded) or from the caller.
    throw first ?? fail(ac.signal.aborted ? 'upload' : 'dump', err);
  });
  const upload = opts.destination.put(opts.key, body, { signal: ac.signal, ...(opts.contentType ? { contentType: opts.contentType } : {}) }).catch((err: unknown) => {
    throw fail('upload', err);
  });
  // The destination closing its stream before the end is its failure, even when it says nothing.
  const bodyClosedEarly = (): void => {
    if (!body.writableFinished) fail('upload', (body.errored as Error | null) ?? new Error('the destination stopped reading before the end'));
  };
  body.once('close', bodyClosedEarly);
  const produced = (async () => {
    try {
      await opts.produce(input, ac.signal);
    } catch (err) {
      throw fail('dump', err);
    }
    if (ac.signal.aborted) throw first ?? fail('dump', new Error('aborted'));
    input.end();
  })();

  const results = await Promise.allSettled([produced, fed, upload]);
  body.off('close', bodyClosedEarly);
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
