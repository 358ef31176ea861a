import { exponentialBackoffMs } from '../../util/exponential-backoff.js';

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
  /** Restarts in a row since the last reset (absent in records from before it was kept). */
  streak?: number;
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
  const streak = reset ? 1 : (rec.streak ?? streakOf(rec.backoffMs, policy)) + 1;
  return { restarts: rec.restarts + 1, lastRestartAt: now, backoffMs: exponentialBackoffMs(streak, policy.baseMs, policy.maxMs), streak };
}

/** The streak a record from before `streak` was kept had: its delay is base·2^(streak-1). */
function streakOf(backoffMs: number, policy: RestartBackoffPolicy): number {
  return backoffMs <= 0 ? 0 : Math.round(Math.log2(backoffMs / policy.baseMs)) + 1;
}
