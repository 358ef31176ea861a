import type { Logger } from 'pino';
import type { ContainerClient } from '../../adapters/docker/index.js';
import type { RolloutStrategy } from '../../manifests/kinds/service.js';
import type { DurableState } from '../../state/durable-state.js';
import type { StatusBoard } from '../../state/status-board.js';
import { exponentialBackoffMs } from '../../util/exponential-backoff.js';
import type { Ownership } from '../ownership.js';
import type { Follower } from './observe.js';
import type { Rename } from './plan.js';
import { reloadService } from './reload.js';
import {
  commitOf,
  ROLLOUT_HISTORY_LIMIT,
  ROLLOUT_HISTORY_SECTION,
  ROLLOUT_SECTION,
  type RolloutHistoryEntry,
  type RolloutResult,
  type RolloutState,
} from './rollout-record.js';
import type { ServiceMetrics } from './service-metrics.js';

/** A failed spec is tried again after 1 min, doubling to 1 h (or at once when the spec changes). */
const RETRY_BASE_MS = 60_000;
const RETRY_MAX_MS = 3_600_000;

export interface RolloutDeps {
  containers: ContainerClient;
  own: Ownership;
  state: DurableState;
  metrics: ServiceMetrics;
}

export interface RolloutScope {
  service: string;
  key: string;
  origin: string;
  status: StatusBoard;
  log: Logger;
  now: () => Date;
  signal: AbortSignal;
}

/**
 * The effects of a rollout, step by step, each safe to repeat (a crash between two steps is picked
 * up by the next plan from what runs): the bookkeeping in the state file, the Progressing
 * condition, metrics and history, and the cutover itself.
 */
export class RolloutSteps {
  constructor(private readonly d: RolloutDeps) {}

  /** A container for a new spec was started (or replaced the old one): the rollout is on. */
  started(s: RolloutScope, toHash: string, fromHash: string | undefined, strategy: RolloutStrategy): void {
    const prev = this.d.state.get<RolloutState>(ROLLOUT_SECTION, s.service);
    // Another spec's rollout still in flight (not failed, not backing off) ends here, in the history too.
    if (prev && prev.toHash !== toHash && !prev.failedAt && !prev.retryAt) this.ended(s, 'superseded', `superseded by ${toHash.slice(0, 8)} before it completed`);
    const failures = prev?.toHash === toHash ? prev.failures : 0;
    const commit = commitOf(s.origin);
    const record: RolloutState = { toHash, strategy, startedAt: s.now().toISOString(), failures, ...(fromHash ? { fromHash } : {}), ...(commit ? { commit } : {}) };
    this.d.state.set(ROLLOUT_SECTION, s.service, record);
    s.status.setCondition(s.key, 'Progressing', 'True', 'RollingOut', `${strategy} rollout to ${toHash.slice(0, 8)}${fromHash ? ` from ${fromHash.slice(0, 8)}` : ''}`);
  }

  /**
   * StartFirst's switch: the new container takes the service's Docker name, followers reload onto
   * it (their links resolve that name's holder alone), and the old ones keep serving what they
   * have in flight until the drain ends; `finishCutover` then stops them. Returns the drain to wait.
   */
  async beginDrain(s: RolloutScope, toHash: string, oldIds: readonly string[], renames: readonly Rename[], drainMs: number, followers: readonly Follower[]): Promise<number> {
    // The name first: a follower's link resolves whichever container holds it when it reloads.
    await this.rename(renames);
    // A follower that cannot be told would keep sending to the old address: do not stop it then.
    await this.reloadFollowers(s, followers, 'strict');
    // The drain's end must be on record for this spec, or the next plan would switch over again:
    // the record of `started` can be missing (an apply killed before the state was written).
    const prev = this.d.state.get<RolloutState>(ROLLOUT_SECTION, s.service);
    const record: RolloutState = prev?.toHash === toHash ? prev : { toHash, strategy: 'StartFirst', startedAt: s.now().toISOString(), failures: 0 };
    this.d.state.set(ROLLOUT_SECTION, s.service, { ...record, drainUntil: new Date(s.now().getTime() + drainMs).toISOString() });
    s.log.info({ drainMs, old: oldIds.map((id) => id.slice(0, 12)) }, 'new version ready; draining the old one');
    return drainMs;
  }

  /**
   * After the drain: the old containers stop with their grace and followers reload once more, for
   * those that reach the service by its network alias (no link), which answered both until now.
   */
  async finishCutover(s: RolloutScope, oldIds: readonly string[], renames: readonly Rename[], followers: readonly Follower[]): Promise<void> {
    const { containers } = this.d;
    for (const id of oldIds) {
      await containers.stop(id);
      await containers.remove(id);
    }
    await this.rename(renames);
    await this.reloadFollowers(s, followers, 'best-effort');
    this.ended(s, 'succeeded', 'the new version serves; the old one drained and stopped');
  }

  /** StartFirst's failure: the new container goes, the old keeps serving, and this spec backs off. */
  async rollback(s: RolloutScope, containerId: string, failure: string, renames: readonly Rename[] = []): Promise<void> {
    await this.d.containers.remove(containerId);
    await this.rename(renames);
    const prev = this.d.state.get<RolloutState>(ROLLOUT_SECTION, s.service);
    if (prev) {
      const failures = prev.failures + 1;
      const retryAt = new Date(s.now().getTime() + exponentialBackoffMs(failures, RETRY_BASE_MS, RETRY_MAX_MS)).toISOString();
      const { drainUntil, ...attempt } = prev;
      this.d.state.set(ROLLOUT_SECTION, s.service, { ...attempt, failures, retryAt, lastError: failure });
    }
    this.ended(s, 'rolled_back', failure);
  }

  /** StopFirst (or a first create) has ended: success clears the rollout; failure is recorded once. */
  finished(s: RolloutScope, result: 'succeeded' | 'failed', reason: string): void {
    const prev = this.d.state.get<RolloutState>(ROLLOUT_SECTION, s.service);
    if (result === 'failed' && prev) this.d.state.set(ROLLOUT_SECTION, s.service, { ...prev, failedAt: s.now().toISOString(), lastError: reason });
    if (result === 'succeeded' && prev?.failedAt) {
      // Already counted and in the history as failed: only the condition catches up.
      this.d.state.delete(ROLLOUT_SECTION, s.service);
      s.status.setCondition(s.key, 'Progressing', 'True', 'RolloutComplete', reason);
      return;
    }
    this.ended(s, result, reason);
  }

  private async rename(renames: readonly Rename[]): Promise<void> {
    for (const r of renames) await this.d.containers.rename(r.containerId, r.name);
  }

  /** Tells followers the service moved (a heal on a new address); a failure is logged, not fatal. */
  async reloadFollowers(s: RolloutScope, followers: readonly Follower[], mode: 'strict' | 'best-effort'): Promise<void> {
    for (const f of followers) {
      try {
        const n = await reloadService(this.d.containers, this.d.own, f.service, f.reload, s.signal);
        if (n > 0) s.log.info({ follower: f.service }, 'follower reloaded');
      } catch (err) {
        if (mode === 'strict') throw err;
        s.log.warn({ follower: f.service, err: (err as Error).message }, 'follower reload failed');
      }
    }
  }

  private ended(s: RolloutScope, result: RolloutResult, reason: string): void {
    const prev = this.d.state.get<RolloutState>(ROLLOUT_SECTION, s.service);
    const now = s.now();
    if (result === 'succeeded') this.d.state.delete(ROLLOUT_SECTION, s.service);
    if (!prev) return;
    const seconds = Math.max(0, (now.getTime() - Date.parse(prev.startedAt)) / 1000);
    this.d.metrics.rolloutEnded(s.service, result, seconds);
    const entry: RolloutHistoryEntry = {
      toHash: prev.toHash,
      strategy: prev.strategy,
      startedAt: prev.startedAt,
      finishedAt: now.toISOString(),
      result,
      reason,
      ...(prev.fromHash ? { fromHash: prev.fromHash } : {}),
      ...(prev.commit ? { commit: prev.commit } : {}),
    };
    const history = this.d.state.get<RolloutHistoryEntry[]>(ROLLOUT_HISTORY_SECTION, s.service) ?? [];
    this.d.state.set(ROLLOUT_HISTORY_SECTION, s.service, [entry, ...history].slice(0, ROLLOUT_HISTORY_LIMIT));
    if (result === 'succeeded') s.status.setCondition(s.key, 'Progressing', 'True', 'RolloutComplete', reason);
    else if (result === 'superseded') s.log.info({ toHash: prev.toHash.slice(0, 8) }, reason);
    else {
      s.status.setCondition(s.key, 'Progressing', 'False', 'RolloutFailed', reason);
      s.log.warn({ result, reason, toHash: prev.toHash.slice(0, 8) }, 'rollout failed');
    }
  }

  /** The history /status shows, newest first. */
  history(service: string): RolloutHistoryEntry[] {
    return this.d.state.get<RolloutHistoryEntry[]>(ROLLOUT_HISTORY_SECTION, service) ?? [];
  }

  forget(service: string): void {
    this.d.state.delete(ROLLOUT_SECTION, service);
    this.d.state.delete(ROLLOUT_HISTORY_SECTION, service);
  }
}
