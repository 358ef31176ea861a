import type { RolloutStrategy } from '../../manifests/kinds/service.js';

/** State section: the rollout in progress (or last failed) per service. */
export const ROLLOUT_SECTION = 'rollouts';
/** State section: the last rollouts per service, newest first, for /status and `history`. */
export const ROLLOUT_HISTORY_SECTION = 'rolloutHistory';
export const ROLLOUT_HISTORY_LIMIT = 10;

/** How long a new container without a healthcheck must keep running to count as ready. */
export const SETTLE_MS = 2000;

/** A rollout to `toHash` that has started and not yet succeeded. */
export interface RolloutState {
  toHash: string;
  fromHash?: string;
  strategy: RolloutStrategy;
  startedAt: string;
  /** Failed attempts of this spec so far; each doubles the wait before the next (1 min to 1 h). */
  failures: number;
  /** After a failure: no new attempt of this spec before then. */
  retryAt?: string;
  lastError?: string;
  /** A StopFirst rollout whose failure was recorded: its container is healed, not rolled back. */
  failedAt?: string;
  /** The git commit the manifests came from, when they came from git. */
  commit?: string;
  /**
   * StartFirst after the switch: followers send to the new container and the old ones drain until
   * then. A wait between reconciles, not a sleep inside one, so a newer spec can start its own
   * rollout meanwhile instead of queueing behind the drain.
   */
  drainUntil?: string;
}

/** superseded: a newer spec started its own rollout before this one ended (its container goes at that one's switch). */
export type RolloutResult = 'succeeded' | 'rolled_back' | 'failed' | 'superseded';
export const ROLLOUT_RESULTS: readonly RolloutResult[] = ['succeeded', 'rolled_back', 'failed', 'superseded'];

export interface RolloutHistoryEntry {
  fromHash?: string;
  toHash: string;
  strategy: RolloutStrategy;
  startedAt: string;
  finishedAt: string;
  result: RolloutResult;
  reason: string;
  commit?: string;
}

/** The git commit in a snapshot's origin (`git:<sha>`), if it came from git. */
export const commitOf = (origin: string): string | undefined => (origin.startsWith('git:') ? origin.slice(4) : undefined);
