import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';

export const REJECTION_REASONS = ['host', 'auth', 'webhook_auth', 'body_too_large', 'rate_limited', 'connection_limit'] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

const QUIET_MS = 60_000;

/**
 * Counts every refused request and logs at most one line a minute per reason, so a flood of bad
 * tokens or forged webhooks cannot flood the log; the counter has the full figure.
 */
export class RequestRejections {
  private readonly counter: Counter<'reason'>;
  private readonly lastLogged = new Map<RejectionReason, number>();
  private readonly suppressed = new Map<RejectionReason, number>();

  constructor(
    registry: Registry,
    private readonly log: Logger | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.counter = new Counter({
      name: 'certitrack_http_rejected_requests_total',
      help: 'HTTP requests refused: wrong Host, missing or bad API token, bad webhook signature, body too large, trigger already in flight, connection cap reached.',
      labelNames: ['reason'],
      registers: [registry],
    });
    for (const r of REJECTION_REASONS) this.counter.labels(r).inc(0);
  }

  reject(reason: RejectionReason, remote: string | undefined): void {
    this.counter.labels(reason).inc();
    const at = this.now();
    const last = this.lastLogged.get(reason);
    if (last !== undefined && at - last < QUIET_MS) {
      this.suppressed.set(reason, (this.suppressed.get(reason) ?? 0) + 1);
      return;
    }
    const more = this.suppressed.get(reason) ?? 0;
    this.lastLogged.set(reason, at);
    this.suppressed.set(reason, 0);
    this.log?.warn(
      { reason, remote, ...(more > 0 ? { suppressedSinceLastLine: more } : {}) },
      'HTTP request rejected (logged at most once a minute per reason; every one is counted in certitrack_http_rejected_requests_total)',
    );
  }
}
