import type { Logger } from 'pino';
import type { Datum, MetricPublisher, PublishResult } from './publisher.js';

export interface MetricSource {
  collect(): Promise<Datum[]>;
}

export interface PublishLoopOptions {
  /** CloudWatch's standard resolution is one minute; publishing faster only costs more. */
  intervalMs?: number;
  log?: Logger;
}

/**
 * Collects from the probes and publishes, once a minute. Without AWS (no publisher) it still
 * collects, so /metrics stays current. One round at a time: a slow round delays the next rather
 * than overlapping it.
 */
export class PublishLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(
    private readonly source: MetricSource,
    private readonly publisher: MetricPublisher | undefined,
    private readonly opts: PublishLoopOptions = {},
  ) {}

  start(): void {
    if (this.timer || this.stopped) return;
    const tick = (): void => {
      this.running = this.runOnce()
        .then(() => undefined)
        .catch((err: unknown) => this.opts.log?.error({ err }, 'metrics round failed'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.opts.intervalMs ?? 60_000);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async runOnce(): Promise<PublishResult | undefined> {
    const data = await this.source.collect();
    if (!this.publisher || data.length === 0) return undefined;
    return this.publisher.publish(data, this.abort.signal);
  }

  /** Stops scheduling and waits for a round in progress (its retries cut short). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort();
    await this.running;
  }
}
