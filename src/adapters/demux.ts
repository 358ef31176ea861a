import { Writable } from 'node:stream';

const HEADER = 8;

/**
 * Splits Docker's multiplexed attach/exec stream (8-byte frame headers: stream id, 3 zero bytes,
 * big-endian length) into stdout and stderr. Unlike docker-modem's demuxStream it waits for the
 * stdout sink to drain before accepting more input, so a slow consumer (an S3 upload) slows the
 * producer (pg_dump) instead of buffering the whole dump in memory.
 */
export class DemuxWritable extends Writable {
  private pending: Buffer = Buffer.alloc(0);

  constructor(
    private readonly stdout: (chunk: Buffer) => Promise<void> | void,
    private readonly stderr: (chunk: Buffer) => void,
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.drainFrames().then(() => done(), done);
  }

  private async drainFrames(): Promise<void> {
    while (this.pending.length >= HEADER) {
      const type = this.pending[0];
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < HEADER + size) return;
      const payload = this.pending.subarray(HEADER, HEADER + size);
      this.pending = this.pending.subarray(HEADER + size);
      if (type === 2) this.stderr(payload);
      else await this.stdout(payload);
    }
  }
}

/** Resolves once `sink` can take more, so callers can respect back-pressure with a plain await. */
export function writeWithBackpressure(sink: NodeJS.WritableStream, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = sink.write(chunk, (err) => {
      if (err) reject(err);
    });
    if (ok) resolve();
    else sink.once('drain', () => resolve());
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
