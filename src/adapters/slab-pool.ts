const MiB = 1024 * 1024;

/** The size of every slab. */
export const SLAB_BYTES = MiB;
/** Free slabs kept for reuse; more than a backup has in flight (the destination holds up to 4 MiB), little when idle. */
const KEEP_FREE = 8;

interface SlabRecord {
  slab: Buffer;
  /** Chunks cut from the slab and not yet given back. */
  lent: number;
  /** No more chunks will be cut from it: once every chunk is back, it is free. */
  closed: boolean;
}

/**
 * Slabs of memory for bytes copied out of a read buffer, used again once every chunk cut from them
 * has been given back, instead of a fresh allocation per MiB: a backup streams ~150 MiB, and fresh
 * slabs cost a page fault per 4 KiB on first touch and a full garbage collection every ~40 MiB
 * (V8 collects when external memory grows), together about half of the agent's CPU per dump
 * (bench/backup-profile.ts).
 *
 * Giving back is the last holder's promise that nothing reads the chunk any more (a destination
 * whose write has completed); a chunk never given back is simply collected with its slab, so
 * only a holder that knows may call `giveBack`, and any other buffer passed to it is ignored.
 */
class SlabPool {
  private readonly free: Buffer[] = [];
  private readonly records = new WeakMap<ArrayBufferLike, SlabRecord>();
  /** Each chunk lent, once: giving one back twice, or a view made of it, counts for nothing. */
  private readonly chunks = new WeakSet<Buffer>();

  take(): Buffer {
    const slab = this.free.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
    this.records.set(slab.buffer, { slab, lent: 0, closed: false });
    return slab;
  }

  /** Records `chunk` (a view of a slab from `take`) as lent out. */
  lend(chunk: Buffer): Buffer {
    const rec = this.records.get(chunk.buffer);
    if (rec) {
      rec.lent++;
      this.chunks.add(chunk);
    }
    return chunk;
  }

  /** No more chunks will be cut from `slab`. */
  close(slab: Buffer): void {
    const rec = this.records.get(slab.buffer);
    if (!rec) return;
    rec.closed = true;
    this.freeIfDone(rec);
  }

  giveBack(chunk: Buffer): void {
    if (!this.chunks.delete(chunk)) return;
    const rec = this.records.get(chunk.buffer);
    if (!rec) return;
    rec.lent--;
    this.freeIfDone(rec);
  }

  private freeIfDone(rec: SlabRecord): void {
    if (!rec.closed || rec.lent > 0) return;
    this.records.delete(rec.slab.buffer);
    if (this.free.length < KEEP_FREE) this.free.push(rec.slab);
  }
}

export const slabPool = new SlabPool();
