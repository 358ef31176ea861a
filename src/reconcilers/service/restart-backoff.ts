/**
 * Kubelet-style crash-loop backoff, kept in the state store so an agent restart doesn't reset it:
 * the first restart happens at once, then after base, 2·base, … up to max; a container that ran
 * for `resetAfterMs` before failing starts over from nothing.
 */
export interface RestartRecord {
  restarts: number;
  lastRestartAt: number;
  /** Delay to wait after `lastRestartAt` before the next restart. */
  backoffMs: number;
}

export interface RestartBackoffPolicy {
  baseMs: number;
  maxMs: number;
  resetAfterMs: number;
}

export const DEFAULT_RESTART_BACKOFF: RestartBackoffPolicy = { baseMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 };

export const NO_RESTARTS: RestartRecord = { restarts: 0, lastRestartAt: 0, backoffMs: 0 };

/** How long to wait before restarting now; 0 means restart now. */
export function restartDelay(rec: RestartRecord, ranForMs: number | undefined, now: number, policy: RestartBackoffPolicy): number {
  if (ranForMs !== undefined && ranForMs >= policy.resetAfterMs) return 0;
  return Math.max(0, rec.lastRestartAt + rec.backoffMs - now);
}

/** The record after a restart performed at `now`. */
export function recordRestart(rec: RestartRecord, ranForMs: number | undefined, now: number, policy: RestartBackoffPolicy): RestartRecord {
  const reset = ranForMs !== undefined && ranForMs >= policy.resetAfterMs;
  const previous = reset ? 0 : rec.backoffMs;
  return {
    restarts: rec.restarts + 1,
    lastRestartAt: now,
    backoffMs: previous === 0 ? policy.baseMs : Math.min(previous * 2, policy.maxMs),
  };
}
