import { describe, expect, it } from 'vitest';
import { ChunkBatcher } from '../../src/adapters/chunk-batcher.js';
import { SLAB_BYTES, slabPool } from '../../src/adapters/slab-pool.js';

const KiB = 1024;

describe('ChunkBatcher', () => {
  it('copies lent bytes into batches of its own, a full slab at a time, and the rest on flush', () => {
    const got: Buffer[] = [];
    const batcher = new ChunkBatcher((c) => void got.push(c));
    const lent = Buffer.alloc(300 * KiB);
    let expected = Buffer.alloc(0);
    for (let i = 0; i < 7; i++) {
      lent.fill(i + 1);
      batcher.add(lent);
      expected = Buffer.concat([expected, lent]);
      // The lender reuses its buffer at once: what was copied must not change with it.
      lent.fill(0xee);
    }
    expect(got.map((b) => b.length)).toEqual([SLAB_BYTES, SLAB_BYTES]);
    expect(batcher.pending).toBe(7 * 300 * KiB - 2 * SLAB_BYTES);
    batcher.flush();
    expect(batcher.pending).toBe(0);
    expect(Buffer.concat(got).equals(expected)).toBe(true);
    // Nothing handed on is written again by later bytes, in the same slab or the next.
    const before = Buffer.concat(got);
    batcher.add(Buffer.alloc(1500 * KiB, 9));
    batcher.flush();
    expect(Buffer.concat(got.slice(0, 3)).equals(before)).toBe(true);
    batcher.close();
  });

  it('returns the sink\'s request to wait, and nothing when there is none', async () => {
    let release: () => void = () => undefined;
    const waits = new ChunkBatcher(() => new Promise<void>((r) => (release = r)));
    expect(waits.add(Buffer.alloc(100))).toBeUndefined();
    const w = waits.add(Buffer.alloc(SLAB_BYTES));
    expect(w).toBeInstanceOf(Promise);
    release();
    await w;
    expect(new ChunkBatcher(() => undefined).flush()).toBeUndefined();
  });

  it('uses a slab again only once every chunk cut from it is given back, each chunk once', () => {
    const got: Buffer[] = [];
    const batcher = new ChunkBatcher((c) => void got.push(c));
    batcher.add(Buffer.alloc(100 * KiB, 1));
    batcher.flush();
    batcher.add(Buffer.alloc(100 * KiB, 2));
    batcher.flush();
    batcher.close();
    const [a, b] = got as [Buffer, Buffer];
    expect(a.buffer).toBe(b.buffer);
    slabPool.giveBack(a);
    // Given back twice, or a view of it: still lent while b is out.
    slabPool.giveBack(a);
    slabPool.giveBack(b.subarray(0, 10));
    const other = new ChunkBatcher((c) => void got.push(c));
    other.add(Buffer.alloc(10, 3));
    other.flush();
    expect(got[2]?.buffer).not.toBe(a.buffer);
    expect(b.every((x) => x === 2)).toBe(true);
    slabPool.giveBack(b);
    other.close();
    // a's slab is free now (other's is still lent out): it is the one used next.
    const third = new ChunkBatcher((c) => void got.push(c));
    third.add(Buffer.alloc(10, 4));
    third.flush();
    expect(got[3]?.buffer).toBe(a.buffer);
    third.close();
  });
});
