import { SLAB_BYTES, slabPool } from './slab-pool.js';

/** Below this much room left, a slab is not worth filling further: the next bytes start a new one. */
const MIN_ROOM = 64 * 1024;

/**
 * Copies bytes that are only lent (views of a read buffer the next read overwrites) into slabs
 * (slab-pool.ts) and hands them on a slab at a time: one copy per byte and one sink call per slab
 * instead of one per read (pg_dump's output arrives in ~12,000 reads per 146 MiB, and every read
 * handed on through streams cost CPU that pg_dump needed). `flush` hands on what is there before a
 * slab is full (the stream's end, a pause in the output). A chunk's memory is never written again
 * until its holder gives it back to the pool.
 */
export class ChunkBatcher {
  private slab: Buffer | undefined;
  private start = 0;
  private end = 0;

  constructor(
    /** Receives each batch; a returned promise asks the source to wait. */
    private readonly sink: (chunk: Buffer) => Promise<void> | void,
  ) {}

  /** Bytes copied but not yet handed on. */
  get pending(): number {
    return this.end - this.start;
  }

  /** Copies `view`; returns the sink's promise when a full slab was handed on and the sink asked to wait. */
  add(view: Buffer): Promise<void> | void {
    let waiting: Promise<void> | void = undefined;
    for (let at = 0; at < view.length; ) {
      const slab = this.slab ?? this.newSlab();
      const n = Math.min(view.length - at, SLAB_BYTES - this.end);
      view.copy(slab, this.end, at, at + n);
      this.end += n;
      at += n;
      if (this.end === SLAB_BYTES) waiting = this.flush() ?? waiting;
    }
    return waiting;
  }

  /** Hands on what has been copied so far, if anything. */
  flush(): Promise<void> | void {
    if (!this.slab || this.end === this.start) return undefined;
    const out = slabPool.lend(this.slab.subarray(this.start, this.end));
    this.start = this.end;
    if (SLAB_BYTES - this.end < MIN_ROOM) this.close();
    return this.sink(out);
  }

  /** Lets go of the slab being filled (nothing more will be added). */
  close(): void {
    if (this.slab) slabPool.close(this.slab);
    this.slab = undefined;
  }

  private newSlab(): Buffer {
    this.slab = slabPool.take();
    this.start = 0;
    this.end = 0;
    return this.slab;
  }
}
