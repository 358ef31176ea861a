import { Writable } from 'node:stream';

const HEADER = 8;

/**
 * Splits Docker's multiplexed attach/exec stream (8-byte frame headers: stream id, 3 zero bytes,
 * big-endian length) into stdout and stderr. Unlike docker-modem's demuxStream it tells its caller
 * when the stdout sink asked to wait, so a slow consumer (an S3 upload) slows the producer
 * (pg_dump) instead of the whole dump piling up in memory.
 *
 * Payloads are views of the chunk pushed (a frame that spans chunks goes on in pieces, never copied
 * together), handed on synchronously and in order; a sink that keeps one beyond the call must
 * copy it when the chunk's memory is reused (exec-stream.ts reads into one buffer).
 */
export class FrameSplitter {
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

  /** Whether the stream so far ends between two frames (a stream cut inside one lost bytes). */
  get atFrameBoundary(): boolean {
    return this.remaining === 0 && this.headerFill === 0;
  }

  /**
   * Splits one chunk; returns a promise when the stdout sink asked to wait (the last one it
   * returned: sinks that are streams drain in order). Everything in the chunk is handed on before
   * it returns, waiting or not.
   */
  push(chunk: Buffer): Promise<void> | void {
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
      if (this.toStderr) this.stderr(payload);
      else waiting = this.stdout(payload) ?? waiting;
    }
    return waiting;
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
