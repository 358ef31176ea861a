import { describe, expect, it } from 'vitest';
import { PerKeyBackoff } from '../../src/engine/backoff.js';
import { WorkQueue } from '../../src/engine/work-queue.js';

const tick = () => new Promise((r) => setImmediate(r));

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('WorkQueue', () => {
  it('dedupes a key waiting in the queue', async () => {
    const seen: string[] = [];
    const gate = deferred();
    const q = new WorkQueue(async (k) => {
      seen.push(k);
      await gate.promise;
    }, 1);
    q.add('busy');
    q.add('a');
    q.add('a');
    q.add('a');
    gate.resolve();
    await q.whenIdle();
    expect(seen).toEqual(['busy', 'a']);
  });

  it('never runs one key twice at once, and reruns a key added while it runs', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const gates = [deferred(), deferred()];
    const q = new WorkQueue(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await gates[runs++]?.promise;
      running--;
    }, 4);
    q.add('k');
    await tick();
    q.add('k'); // arrives while the first run is in flight
    q.add('k');
    await tick();
    expect(maxRunning).toBe(1);
    gates[0]!.resolve();
    await tick();
    gates[1]!.resolve();
    await q.whenIdle();
    expect(runs).toBe(2);
    expect(maxRunning).toBe(1);
  });

  it('runs independent keys in parallel up to the bound', async () => {
    let running = 0;
    let maxRunning = 0;
    const gate = deferred();
    const q = new WorkQueue(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await gate.promise;
      running--;
    }, 3);
    for (const k of ['a', 'b', 'c', 'd', 'e']) q.add(k);
    await tick();
    expect(maxRunning).toBe(3);
    expect(q.depth).toBe(2);
    gate.resolve();
    await q.whenIdle();
  });

  it('keeps the earliest of several delayed adds', async () => {
    const seen: number[] = [];
    const start = Date.now();
    const q = new WorkQueue(async () => void seen.push(Date.now() - start), 1);
    q.addAfter('k', 200);
    q.addAfter('k', 20);
    q.addAfter('k', 500);
    expect(q.scheduled().size).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    await q.whenIdle();
    expect(seen.length).toBe(1);
    expect(seen[0]!).toBeLessThan(190);
  });

  it('survives a throwing handler', async () => {
    const seen: string[] = [];
    const q = new WorkQueue(async (k) => {
      seen.push(k);
      if (k === 'bad') throw new Error('boom');
    }, 1);
    q.add('bad');
    q.add('good');
    await q.whenIdle();
    expect(seen).toEqual(['bad', 'good']);
  });
});

describe('PerKeyBackoff', () => {
  it('doubles per key up to the cap and forgets on success', () => {
    const b = new PerKeyBackoff(1000, 5000);
    expect([b.next('a'), b.next('a'), b.next('a'), b.next('a'), b.next('b')]).toEqual([1000, 2000, 4000, 5000, 1000]);
    b.forget('a');
    expect(b.next('a')).toBe(1000);
  });
});
