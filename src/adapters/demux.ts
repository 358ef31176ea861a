import { type Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

const HEADER = 8;

/**
 * Splits Docker's multiplexed attach/exec stream (8-byte frame headers: stream id, 3 zero bytes,
 * big-endian length) into stdout and stderr. Unlike docker-modem's demuxStream it waits for the
 * stdout sink to drain before accepting more input, so a slow consumer (an S3 upload) slows the
 * producer (pg_dump) instead of buffering the whole dump in memory.
 *
 * The stdout of all the frames complete in one write goes to the sink in one piece: pg_dump's
 * output arrives as ~12,000 frames of 4–32 KiB per 120 MiB, and a sink call (a stream write, a
 * promise) per frame cost the agent more CPU than the copy that joins them, on a host whose cores
 * pg_dump and PostgreSQL need (bench/backup-stream.ts).
 */
class FrameSplitter {
  /** The header being read when one spans two chunks. */
  private readonly header = Buffer.alloc(HEADER);
  private headerFill = 0;
  /** Payload bytes of the current frame still to come, and whose they are. */
  private remaining = 0;
  private toStderr = false;

  constructor(
    private readonly stdout: (chunk: Buffer) => Promise<void> | void,
    private readonly stderr: (chunk: Buffer) => void,
  ) {}

  /**
   * Splits one chunk; returns a promise when the stdout sink asked to wait. Payloads are views of
   * the chunk (a frame that spans chunks is passed on in pieces, never copied together):
   * re-joining 32 KiB frames that arrive in ~11 KiB reads was most of the garbage a dump made.
   */
  push(chunk: Buffer): Promise<void> | void {
    let out: Buffer[] = [];
    let outBytes = 0;
    let waiting: Promise<void> | void = undefined;
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining === 0) {
        const n = Math.min(HEADER - this.headerFill, chunk.length - at);
        chunk.copy(this.header, this.headerFill, at, at + n);
        this.headerFill += n;
        at += n;
        if (this.headerFill < HEADER) break;
        this.headerFill = 0;
        this.toStderr = this.header[0] === 2;
        this.remaining = this.header.readUInt32BE(4);
        continue;
      }
      const n = Math.min(this.remaining, chunk.length - at);
      const payload = chunk.subarray(at, at + n);
      at += n;
      this.remaining -= n;
      if (!this.toStderr) {
        out.push(payload);
        outBytes += n;
        continue;
      }
      // stderr in between: what stdout had so far goes first, in order.
      if (out.length > 0) {
        waiting = this.flushStdout(out, outBytes, waiting);
        out = [];
        outBytes = 0;
      }
      this.stderr(payload);
    }
    if (out.length > 0) waiting = this.flushStdout(out, outBytes, waiting);
    return waiting;
  }

  /** Hands `parts` to the stdout sink after `before` (a sink still draining), synchronously when it is not. */
  private flushStdout(parts: Buffer[], bytes: number, before: Promise<void> | void): Promise<void> | void {
    const joined = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, bytes);
    return before ? before.then(() => this.stdout(joined)) : this.stdout(joined);
  }
}

/** The demultiplexer as a Writable, for `pipeline` (logs, attach sessions). */
export class DemuxWritable extends Writable {
  private readonly splitter: FrameSplitter;

  constructor(stdout: (chunk: Buffer) => Promise<void> | void, stderr: (chunk: Buffer) => void) {
    super();
    this.splitter = new FrameSplitter(stdout, stderr);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    const waiting = this.splitter.push(chunk);
    if (waiting) waiting.then(() => done(), done);
    else done();
  }
}

/**
 * Demultiplexes `source` straight from its 'data' events until it ends, pausing it while the
 * stdout sink drains: one stream layer less than piping into a DemuxWritable, for the exec
 * streams a backup reads (~20,000 chunks per 240 MiB of pg_dump output).
 */
export async function demuxStream(source: Readable, stdout: (chunk: Buffer) => Promise<void> | void, stderr: (chunk: Buffer) => void): Promise<void> {
  const splitter = new FrameSplitter(stdout, stderr);
  let waiting: Promise<void> | undefined;
  let failure: Error | undefined;
  const onData = (chunk: Buffer): void => {
    let w: Promise<void> | void;
    try {
      w = splitter.push(chunk);
    } catch (err) {
      failure = err as Error;
      source.destroy(failure);
      return;
    }
    if (!w) return;
    source.pause();
    waiting = w.then(
      () => {
        waiting = undefined;
        source.resume();
      },
      (err: unknown) => {
        waiting = undefined;
        failure = err as Error;
        source.destroy(failure);
      },
    );
  };
  source.on('data', onData);
  try {
    await finished(source, { writable: false });
  } finally {
    source.off('data', onData);
  }
  await waiting;
  // The sink can fail after the source has ended (its last chunk still being written).
  if (failure) throw failure;
}

/**
 * Writes `chunk`; returns a promise only when `sink` asks to wait (resolved once it drains, rejected
 * if the write fails meanwhile), so a caller respects back-pressure with `await` and pays nothing
 * for it when there is none.
 */
export function writeWithBackpressure(sink: NodeJS.WritableStream, chunk: Buffer): Promise<void> | undefined {
  let error: Error | undefined;
  let fail: ((err: Error) => void) | undefined;
  const ok = sink.write(chunk, (err) => {
    if (!err) return;
    error = err;
    fail?.(err);
  });
  if (ok) return undefined;
  // A sink that fails instead of draining never emits 'drain': its write callback rejects instead.
  return new Promise((resolve, reject) => {
    if (error) return reject(error);
    fail = reject;
    sink.once('drain', () => resolve());
  });
}

/** Keeps the last `limit` bytes written, for error messages and run history. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit = 4096) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
      this.size -= (this.chunks.shift() as Buffer).length;
    }
  }
  toString(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}
