import { describe, expect, it } from 'vitest';
import { PerKeyBackoff } from '../../src/engine/backoff.js';
import { Registry } from 'prom-client';
import { EngineMetrics } from '../../src/engine/engine-metrics.js';
import { type UnfinishedWork, WorkQueue, type WorkQueueMetrics } from '../../src/engine/work-queue.js';

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

/** A hook that records what the queue reports, and a clock the test moves by hand. */
function recorder() {
  const seen = { added: 0, depth: [] as number[], waited: [] as number[], worked: [] as number[], retried: 0 };
  let read: () => UnfinishedWork = () => ({ totalSeconds: -1, longestSeconds: -1 });
  const hook: WorkQueueMetrics = {
    added: () => void seen.added++,
    depth: (n) => void seen.depth.push(n),
    waited: (s) => void seen.waited.push(s),
    worked: (s) => void seen.worked.push(s),
    retried: () => void seen.retried++,
    readUnfinishedWork: (r) => void (read = r),
  };
  return { seen, hook, unfinished: () => read() };
}

describe('WorkQueue metrics (client-go semantics)', () => {
  it('times the wait in the queue and the work, counts adds once per waiting key, and reads unfinished work on demand', async () => {
    let clock = 1_000_000;
    const gates = new Map([['a', deferred()], ['b', deferred()]]);
    const m = recorder();
    const q = new WorkQueue(async (k) => gates.get(k)?.promise, 1, m.hook, undefined, () => clock);
    q.add('a'); // taken at once: waited 0
    q.add('b');
    q.add('b'); // already waiting: not counted again
    expect(m.seen.added).toBe(2);
    expect(m.seen.depth.at(-1)).toBe(1);
    expect(m.unfinished()).toEqual({ totalSeconds: 0, longestSeconds: 0 });

    clock += 2500;
    expect(m.unfinished()).toEqual({ totalSeconds: 2.5, longestSeconds: 2.5 });
    gates.get('a')!.resolve();
    await tick();
    // a worked 2.5 s; b waited 2.5 s behind it and runs now.
    expect(m.seen.worked).toEqual([2.5]);
    expect(m.seen.waited).toEqual([0, 2.5]);
    clock += 500;
    expect(m.unfinished()).toEqual({ totalSeconds: 0.5, longestSeconds: 0.5 });
    gates.get('b')!.resolve();
    await q.whenIdle();
    expect(m.seen.worked).toEqual([2.5, 0.5]);
    expect(m.unfinished()).toEqual({ totalSeconds: 0, longestSeconds: 0 });
    expect(m.seen.depth.at(-1)).toBe(0);
  });

  it('sums unfinished work over parallel workers and reports the longest', async () => {
    let clock = 0;
    const gate = deferred();
    const m = recorder();
    const q = new WorkQueue(async () => gate.promise, 2, m.hook, undefined, () => clock);
    q.add('a');
    clock += 3000;
    q.add('b');
    clock += 1000;
    expect(m.unfinished()).toEqual({ totalSeconds: 5, longestSeconds: 4 });
    gate.resolve();
    await q.whenIdle();
  });

  it('counts a retry, and the key comes back through add when its delay is over', async () => {
    const m = recorder();
    const seen: string[] = [];
    const q = new WorkQueue(async (k) => void seen.push(k), 1, m.hook);
    q.retryAfter('k', 5);
    expect(m.seen.retried).toBe(1);
    expect(m.seen.added).toBe(0);
    await new Promise((r) => setTimeout(r, 30));
    await q.whenIdle();
    expect(seen).toEqual(['k']);
    expect(m.seen.added).toBe(1);
  });

  it('feeds the certitrack_workqueue_* families of EngineMetrics', async () => {
    const registry = new Registry();
    const metrics = new EngineMetrics(registry, ['Service']);
    let clock = 0;
    const gate = deferred();
    const q = new WorkQueue(async () => gate.promise, 1, metrics.workQueue, undefined, () => clock);
    q.add('Service/a');
    q.add('Service/b');
    q.retryAfter('Service/c', 60_000);
    clock += 7000;
    const value = async (name: string): Promise<number | undefined> => (await registry.getMetricsAsJSON()).find((x) => x.name === name)?.values[0]?.value;
    expect(await value('certitrack_workqueue_adds_total')).toBe(2);
    expect(await value('certitrack_workqueue_depth')).toBe(1);
    expect(await value('certitrack_workqueue_retries_total')).toBe(1);
    expect(await value('certitrack_workqueue_unfinished_work_seconds')).toBe(7);
    expect(await value('certitrack_workqueue_longest_running_processor_seconds')).toBe(7);
    gate.resolve();
    await q.whenIdle();
    const text = await registry.metrics();
    expect(text).toContain('certitrack_workqueue_work_duration_seconds_count 2');
    expect(text).toContain('certitrack_workqueue_work_duration_seconds_sum 7');
    expect(text).toContain('certitrack_workqueue_queue_duration_seconds_sum 7');
    expect(await value('certitrack_workqueue_longest_running_processor_seconds')).toBe(0);
    await q.shutdown();
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
