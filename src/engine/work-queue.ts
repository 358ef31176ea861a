export interface Timers {
  setTimeout(fn: () => void, ms: number): NodeJS.Timeout;
  clearTimeout(t: NodeJS.Timeout): void;
}

const realTimers: Timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t) };

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
  private active = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly handler: (key: string) => Promise<void>,
    private readonly concurrency: number,
    private readonly onDepthChange: (depth: number) => void = () => undefined,
    private readonly timers: Timers = realTimers,
    private readonly now: () => number = Date.now,
  ) {}

  add(key: string): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (!this.processing.has(key)) {
      this.queue.push(key);
      this.onDepthChange(this.queue.length);
    }
    this.pump();
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
    await this.whenIdle();
  }

  private pump(): void {
    while (!this.stopped && this.active < this.concurrency && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      this.onDepthChange(this.queue.length);
      this.dirty.delete(key);
      this.processing.add(key);
      this.active++;
      void this.handler(key)
        .catch(() => undefined) // the handler logs and requeues; a throw here must not kill the queue
        .finally(() => {
          this.processing.delete(key);
          this.active--;
          if (this.dirty.has(key) && !this.stopped) {
            this.queue.push(key);
            this.onDepthChange(this.queue.length);
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
