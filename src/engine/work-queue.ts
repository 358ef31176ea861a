export interface Timers {
  setTimeout(fn: () => void, ms: number): NodeJS.Timeout;
  clearTimeout(t: NodeJS.Timeout): void;
}

const realTimers: Timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t) };

/** Work handed to a worker and not finished yet, measured when asked (at scrape time). */
export interface UnfinishedWork {
  /** Seconds every running handler has spent so far, summed: grows fast when workers are stuck. */
  totalSeconds: number;
  /** Seconds the longest-running handler has been running; 0 when none runs. */
  longestSeconds: number;
}

/**
 * What the queue reports about itself: client-go's workqueue metrics provider, as a plain interface
 * so the queue needs no metrics library (engine-metrics.ts implements it with prom-client).
 */
export interface WorkQueueMetrics {
  /** A key entered the queue; a key already waiting is not counted again. */
  added(): void;
  depth(keys: number): void;
  /** A worker took a key that had waited this long since it was added. */
  waited(seconds: number): void;
  /** A worker finished a key after this long. */
  worked(seconds: number): void;
  /** A key was put back after a failed attempt (see {@link WorkQueue.retryAfter}). */
  retried(): void;
  /** Called once by the queue: how to read its unfinished work whenever the figure is wanted. */
  readUnfinishedWork(read: () => UnfinishedWork): void;
}

const noMetrics: WorkQueueMetrics = {
  added: () => undefined,
  depth: () => undefined,
  waited: () => undefined,
  worked: () => undefined,
  retried: () => undefined,
  readUnfinishedWork: () => undefined,
};

/**
 * A keyed work queue with client-go's guarantees: a key waiting in the queue is there once however
 * often it is added; a key is never handled by two workers at once; a key added while it is being
 * handled is handled again afterwards (so the newest change is never lost); independent keys run in
 * parallel up to `concurrency`.
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  /** When each dirty key was first added, and when each running key was taken (ms, from `now`). */
  private readonly addedAt = new Map<string, number>();
  private readonly startedAt = new Map<string, number>();
  private active = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly handler: (key: string) => Promise<void>,
    private readonly concurrency: number,
    private readonly metrics: WorkQueueMetrics = noMetrics,
    private readonly timers: Timers = realTimers,
    private readonly now: () => number = Date.now,
  ) {
    metrics.readUnfinishedWork(() => this.unfinishedWork());
  }

  add(key: string): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.addedAt.set(key, this.now());
    this.metrics.added();
    if (!this.processing.has(key)) {
      this.queue.push(key);
      this.metrics.depth(this.queue.length);
    }
    this.pump();
  }

  /** {@link addAfter} for a key whose handling failed: the same, and counted as a retry. */
  retryAfter(key: string, ms: number): void {
    if (this.stopped) return;
    this.metrics.retried();
    this.addAfter(key, ms);
  }

  /** Adds the key after `ms`; an earlier pending request for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const at = this.now() + ms;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.timers.clearTimeout(existing.timer);
    const timer = this.timers.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref?.();
    this.delayed.set(key, { at, timer });
  }

  get depth(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.active;
  }

  unfinishedWork(): UnfinishedWork {
    const now = this.now();
    let totalSeconds = 0;
    let longestSeconds = 0;
    for (const at of this.startedAt.values()) {
      const seconds = Math.max(0, now - at) / 1000;
      totalSeconds += seconds;
      longestSeconds = Math.max(longestSeconds, seconds);
    }
    return { totalSeconds, longestSeconds };
  }

  /** Keys being handled right now. */
  running(): string[] {
    return [...this.processing].sort();
  }

  /** Keys waiting on a timer, with when they are due (for status and tests). */
  scheduled(): Map<string, number> {
    return new Map([...this.delayed].map(([k, v]) => [k, v.at]));
  }

  /** Resolves when nothing is queued or running (timers may still be pending). */
  whenIdle(): Promise<void> {
    if (this.queue.length === 0 && this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking work and waits for running handlers to finish. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const { timer } of this.delayed.values()) this.timers.clearTimeout(timer);
    this.delayed.clear();
    this.queue.length = 0;
    this.dirty.clear();
    this.addedAt.clear();
    this.metrics.depth(0);
    await this.whenIdle();
  }

  private pump(): void {
    while (!this.stopped && this.active < this.concurrency && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      this.metrics.depth(this.queue.length);
      const startedAt = this.now();
      this.metrics.waited(Math.max(0, startedAt - (this.addedAt.get(key) ?? startedAt)) / 1000);
      this.addedAt.delete(key);
      this.dirty.delete(key);
      this.processing.add(key);
      this.startedAt.set(key, startedAt);
      this.active++;
      void this.handler(key)
        .catch(() => undefined) // the handler logs and requeues; a throw here must not kill the queue
        .finally(() => {
          this.metrics.worked(Math.max(0, this.now() - startedAt) / 1000);
          this.startedAt.delete(key);
          this.processing.delete(key);
          this.active--;
          if (this.dirty.has(key) && !this.stopped) {
            this.queue.push(key);
            this.metrics.depth(this.queue.length);
          }
          this.pump();
          if (this.queue.length === 0 && this.active === 0) {
            const waiters = this.idleWaiters;
            this.idleWaiters = [];
            for (const w of waiters) w();
          }
        });
    }
  }
}
