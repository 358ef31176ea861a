import type { DurableState } from '../state/durable-state.js';
import { exponentialBackoffMs } from '../util/exponential-backoff.js';

/**
 * The retry state machine of scheduled backups. A failed scheduled (or missed, or retried) run
 * schedules a retry with a doubling delay; a success, or the next slot, ends it; a manual run's
 * failure leaves it alone. Everything here but {@link RetryBook} is pure.
 */
export interface RetryState {
  attempt: number;
  nextAt: string;
  /** The slot the failed run was for. */
  slot?: string;
  step: string;
  error: string;
}

export interface RetryPolicy {
  /** The first retry's delay; doubles up to maxMs. */
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 60_000, maxMs: 3_600_000 };

export interface FailedRun {
  step: string;
  /** The end of its output, which names the failure. */
  error: string;
  scheduledFor?: Date;
}

/** The retry after a failed scheduled run, counting on from the previous one for the same slot. */
export function nextRetry(prev: RetryState | undefined, failed: FailedRun, now: Date, policy: RetryPolicy): RetryState {
  const attempt = (prev?.attempt ?? 0) + 1;
  const delay = exponentialBackoffMs(attempt, policy.baseMs, policy.maxMs);
  const slot = failed.scheduledFor?.toISOString() ?? prev?.slot;
  return { attempt, nextAt: new Date(now.getTime() + delay).toISOString(), ...(slot ? { slot } : {}), step: failed.step, error: failed.error.slice(-500) };
}

export const retryDue = (retry: RetryState, now: Date): boolean => Date.parse(retry.nextAt) <= now.getTime();

/** DurableState section: the pending retry of a failed scheduled backup, per resource key. */
const SECTION = 'backupRetry';

/** The pending retries, persisted so that a restart keeps retrying. */
export class RetryBook {
  constructor(private readonly state: DurableState) {}

  get(key: string): RetryState | undefined {
    return this.state.get<RetryState>(SECTION, key);
  }

  set(key: string, retry: RetryState): void {
    this.state.set(SECTION, key, retry);
  }

  clear(key: string): void {
    this.state.delete(SECTION, key);
  }

  keys(): string[] {
    return this.state.entries<RetryState>(SECTION).map(([k]) => k);
  }
}
