import { exponentialBackoffMs } from '../util/exponential-backoff.js';

/**
 * Per-key exponential backoff: base, 2·base, 4·base … capped at max. `forget` after a success
 * (client-go's ItemExponentialFailureRateLimiter).
 */
export class PerKeyBackoff {
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
  ) {}

  /** The delay before the next attempt, counting this failure. */
  next(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return exponentialBackoffMs(n + 1, this.baseMs, this.maxMs);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}
