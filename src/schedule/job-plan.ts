import type { KindAction } from '../engine/reconcile.js';
import { type ScheduleFieldsSpec, scheduleTiming } from '../manifests/kinds/schedule-fields.js';
import { slotStatus } from './slot-status.js';
import type { RunTrigger } from './run-history.js';

/**
 * The pure half of the scheduled-job skeleton shared by Schedule and Backup: from what observe read
 * (bookmark, runs in flight, leftover job containers) and the clock it is handed, the actions for
 * one resource. The apply half is {@link ScheduledJobs}.
 */

/** Look again at least this often, so a wall-clock jump (NTP, suspend/resume) is noticed. */
export const MAX_REQUEUE_MS = 3_600_000;
/** Timers may fire a hair before the slot by the wall clock; landing just after it avoids a wasted turn. */
export const REQUEUE_SLACK_MS = 250;
/** While a removed resource waits for its run in progress; the job-finished event usually comes first. */
export const RETIRE_POLL_MS = 30_000;
/** A running job container no run here tracks is an orphan once it has outlived the job's timeout plus this. */
const ORPHAN_GRACE_MS = 60_000;
/** The timeout assumed for a removed resource, whose own is no longer known (the schema's default). */
const DEFAULT_TIMEOUT_MS = 3_600_000;

/** What observe reads for every scheduled kind. */
export interface JobObservation {
  /** lastScheduled for the declared timing; undefined when never scheduled or written for another cron or zone. */
  readonly lastScheduled?: Date;
  /** A run of this key is in progress in this agent. */
  readonly running: boolean;
  /** The key's job containers, read only when no run is in progress here (they would be that run's). */
  readonly containers: readonly JobContainer[];
}

export interface JobContainer {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  /** For a running container: when it started (undefined when Docker did not say). */
  readonly startedAt?: Date;
}

/** Identifies the timing a bookmark was written for; a new cron or zone starts afresh. */
export const scheduleId = (spec: Pick<ScheduleFieldsSpec, 'schedule' | 'timeZone'>): string => `${spec.schedule.trim()}|${spec.timeZone}`;

/** What apply does about the schedule: record the slot, maybe start a run, report, look again later. */
export interface SlotStep {
  /** Start a run now. */
  readonly start?: { readonly trigger: RunTrigger; readonly scheduledFor?: Date };
  /** The lastScheduled to persist; undefined leaves it. */
  readonly bookmark?: { readonly at: Date; readonly scheduleId: string };
  /** Older slots that will never run (downtime); logged. */
  readonly skippedMissed: number;
  readonly next?: Date;
  /** The Ready condition's message; undefined lets the kind's report word it. */
  readonly readyReason?: string;
  readonly requeueAfterMs?: number;
}

/** The schedule's step: `run` when a run starts now, else a `note` saying when the next one is. */
export interface SlotAction extends KindAction {
  readonly type: 'slot';
  readonly action: 'run' | 'note';
  readonly slot: SlotStep;
}

/** Job containers left behind by runs of an agent that stopped mid-run. */
export interface LeftoversAction extends KindAction {
  readonly type: 'leftovers';
  readonly action: 'remove';
  readonly containers: readonly JobContainer[];
}

/**
 * A resource no longer declared: its schedule stops, leftover job containers go, its status is
 * dropped (`remove`); or, while a run of it is still in progress, that much waits (`wait`).
 */
export interface RetireAction extends KindAction {
  readonly type: 'retire';
  readonly action: 'remove' | 'wait';
  readonly containers: readonly JobContainer[];
  readonly requeueAfterMs?: number;
}

/** The bookmark, the run due now (if any) and the next slot, from {@link slotStatus}. */
export function planSlot(spec: ScheduleFieldsSpec, lastScheduled: Date | undefined, now: Date): SlotAction {
  const d = slotStatus(scheduleTiming(spec), spec.suspend, lastScheduled, now);
  const slot: SlotStep = {
    ...(d.action === 'run' ? { start: { trigger: d.trigger, scheduledFor: d.due } } : {}),
    ...(d.bookmark ? { bookmark: { at: d.bookmark, scheduleId: scheduleId(spec) } } : {}),
    skippedMissed: d.skippedMissed,
    ...(d.next ? { next: d.next, requeueAfterMs: requeueWithin([untilSlot(d.next, now)]) } : {}),
    readyReason: d.reason,
  };
  return { type: 'slot', action: d.action === 'run' ? 'run' : 'note', reason: d.reason, slot };
}

/** Milliseconds until just after `at`. */
export const untilSlot = (at: Date, now: Date): number => at.getTime() - now.getTime() + REQUEUE_SLACK_MS;

/** The soonest of `waits`, at least 0 and at most {@link MAX_REQUEUE_MS}. */
export const requeueWithin = (waits: readonly number[]): number => Math.max(0, Math.min(MAX_REQUEUE_MS, ...waits));

/**
 * Which job containers are leftovers to remove now. A running one is left alone until it has
 * outlived the job's timeout: it may belong to a run started by another process; past that it is an
 * orphan of an agent that stopped mid-run.
 */
export function sortLeftovers(containers: readonly JobContainer[], timeoutMs: number, now: Date): { remove: JobContainer[]; young: JobContainer[] } {
  const remove: JobContainer[] = [];
  const young: JobContainer[] = [];
  for (const c of containers) {
    const age = c.state === 'running' && c.startedAt ? now.getTime() - c.startedAt.getTime() : undefined;
    if (age !== undefined && age < timeoutMs + ORPHAN_GRACE_MS) young.push(c);
    else remove.push(c);
  }
  return { remove, young };
}

/** The leftover job containers of a declared resource, removed while none of its runs is in progress. */
export function planLeftovers(observed: JobObservation, timeoutMs: number, now: Date): LeftoversAction[] {
  if (observed.running) return [];
  const { remove } = sortLeftovers(observed.containers, timeoutMs, now);
  return remove.length === 0 ? [] : [{ type: 'leftovers', action: 'remove', reason: `${remove.length} leftover job container(s) of an earlier run`, containers: remove }];
}

/**
 * Retiring a resource no longer declared. A run already started is left to finish (or time out),
 * and so is a young job container; what is left after goes, and `kept` says what stays.
 */
export function planRetire(observed: JobObservation, now: Date, words: { run: string; kept: string }): RetireAction {
  const waiting = `no longer declared; waiting for the ${words.run} in progress to finish`;
  if (observed.running) return { type: 'retire', action: 'wait', reason: waiting, containers: [], requeueAfterMs: RETIRE_POLL_MS };
  const { remove, young } = sortLeftovers(observed.containers, DEFAULT_TIMEOUT_MS, now);
  const removed = `${remove.length} leftover job container(s) removed`;
  if (young.length > 0) {
    return { type: 'retire', action: 'wait', reason: remove.length > 0 ? `${waiting}; ${removed}` : waiting, containers: remove, requeueAfterMs: RETIRE_POLL_MS };
  }
  const reason = remove.length > 0 ? `no longer declared: ${removed}, ${words.kept}` : `no longer declared: its schedule stops; ${words.kept}`;
  return { type: 'retire', action: 'remove', reason, containers: remove };
}
