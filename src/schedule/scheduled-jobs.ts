import type { Logger } from 'pino';
import { LABEL_JOB } from '../adapters/docker-types.js';
import type { ContainerClient } from '../adapters/docker/index.js';
import { type AgentEvent, type ReconcileResult, resourceKey } from '../engine/reconcile.js';
import type { DesiredState } from '../manifests/desired-state.js';
import type { SpecOf } from '../manifests/kinds/index.js';
import type { ScheduleFieldsSpec } from '../manifests/kinds/schedule-fields.js';
import type { Resource } from '../manifests/resource.js';
import type { Ownership } from '../reconcilers/ownership.js';
import type { StatusBoard } from '../state/status-board.js';
import type { JobContainer, JobObservation, RetireAction, SlotAction, SlotStep } from './job-plan.js';
import type { JobFn, JobRunner } from './job-runner.js';
import type { RunHistory, RunRecord, RunTrigger } from './run-history.js';

/** A declared scheduled resource, as the skeleton needs it. */
export interface ScheduledJob {
  readonly key: string;
  readonly spec: Pick<ScheduleFieldsSpec, 'concurrencyPolicy' | 'timeout' | 'historyLimit'>;
  /** Writes the resource's status: Ready from `slot` when given, the run facts always. */
  report(status: StatusBoard, slot?: SlotStep): void;
}

/** One run of a job. */
export interface JobRun {
  readonly fn: JobFn;
  /** The kind's bookkeeping once the runner has recorded the run (metrics, retries). */
  readonly recorded?: (record: RunRecord) => void;
}

/** Where a step reports to and logs; passed in with every call, never kept. */
export interface JobContext {
  readonly status: StatusBoard;
  readonly log: Logger;
}

export interface ScheduledJobsDeps {
  history: RunHistory;
  runner: JobRunner;
  containers: ContainerClient;
  own: Ownership;
  /** Scrubs secret values from messages that are logged. */
  scrub: (text: string) => string;
}

/**
 * The apply half of the scheduled-job skeleton shared by Schedule and Backup (the pure half is
 * job-plan.ts): bookmark the slot, start the run in the background through the JobRunner (so the
 * work queue stays free), report, and ask to be looked at again at the next slot. Also what both
 * kinds read in observe, and their declared watch (a finished run enqueues its own key).
 */
export class ScheduledJobs<K extends 'Schedule' | 'Backup'> {
  /** Keys whose status a background run may still write when it ends (retired keys are dropped). */
  private readonly active = new Set<string>();

  constructor(
    private readonly kind: K,
    private readonly deps: ScheduledJobsDeps,
  ) {}

  /** The declared resource, or an error saying it is not (for runs asked for by name). */
  declared(desired: DesiredState, name: string): Resource<SpecOf<K>> {
    const res = desired.get(this.kind, name);
    if (!res) throw new Error(`${this.kind}/${name} is not declared in the manifests`);
    return res;
  }

  /** Reads only: the bookmark for `scheduleId`, whether a run is in flight, and (when asked and none is) the job containers. */
  async observe(name: string, opts: { scheduleId?: string; containers: boolean }): Promise<JobObservation> {
    const key = resourceKey(this.kind, name);
    const running = this.deps.runner.isRunning(key);
    const lastScheduled = opts.scheduleId === undefined ? undefined : this.deps.history.getLastScheduled(key, opts.scheduleId);
    const containers = opts.containers && !running ? await this.jobContainers(key) : [];
    return { ...(lastScheduled ? { lastScheduled } : {}), running, containers };
  }

  /** Names of this kind with a persisted bookmark: scheduled here before, so theirs to retire. */
  bookmarkedNames(): string[] {
    const prefix = `${this.kind}/`;
    return this.deps.history.bookmarks().flatMap(([key]) => (key.startsWith(prefix) ? [key.slice(prefix.length)] : []));
  }

  /** Names of this kind that have job containers of this agent instance. */
  async namesWithContainers(): Promise<string[]> {
    const prefix = `${this.kind}/`;
    const jobs = (await this.deps.containers.list(this.deps.own.selector())).map((c) => c.labels[LABEL_JOB] ?? '');
    return jobs.flatMap((job) => (job.startsWith(prefix) ? [job.slice(prefix.length)] : []));
  }

  /** The declared watch: a finished run of this kind enqueues its own key. */
  mapEvent(event: AgentEvent): string[] {
    return event.type === 'job-finished' && event.key.startsWith(`${this.kind}/`) ? [event.key] : [];
  }

  /** Idempotent per-reconcile set-up: the history limit and the job's metric series. */
  track(job: ScheduledJob): void {
    this.active.add(job.key);
    this.deps.history.setLimit(job.key, job.spec.historyLimit);
    this.deps.runner.track(job.key);
  }

  /** bookmark → start in the background → report → requeue at the next slot. */
  applySlot(job: ScheduledJob, action: SlotAction, newRun: (trigger: RunTrigger) => JobRun, ctx: JobContext): ReconcileResult {
    const slot = action.slot;
    this.track(job);
    if (slot.bookmark) this.deps.history.setLastScheduled(job.key, slot.bookmark.at, slot.bookmark.scheduleId);
    if (slot.skippedMissed > 0) ctx.log.warn({ skipped: slot.skippedMissed }, 'missed slots skipped (runs once after downtime)');
    if (slot.start) {
      const { trigger, scheduledFor } = slot.start;
      ctx.log.info({ ...(scheduledFor ? { due: scheduledFor.toISOString() } : {}), trigger }, action.reason);
      void this.start(job, newRun(trigger), trigger, scheduledFor, ctx);
    }
    job.report(ctx.status, slot);
    return slot.requeueAfterMs === undefined ? {} : { requeueAfterMs: slot.requeueAfterMs };
  }

  /**
   * Runs now (trigger "manual") under the concurrencyPolicy and timeout and resolves with the
   * finished run; throws when Forbid refuses because a run is in progress.
   */
  async runNow(job: ScheduledJob, run: JobRun, ctx: JobContext): Promise<RunRecord> {
    this.track(job);
    const record = await this.start(job, run, 'manual', undefined, ctx);
    if (!record) throw new Error(`${job.key} is already running and its concurrencyPolicy is Forbid`);
    return record;
  }

  /** Starts a run and resolves when it is recorded (undefined when Forbid skipped it); never rejects. */
  private async start(job: ScheduledJob, run: JobRun, trigger: RunTrigger, scheduledFor: Date | undefined, ctx: JobContext): Promise<RunRecord | undefined> {
    try {
      const running = this.deps.runner.run(job.key, {
        policy: job.spec.concurrencyPolicy,
        timeoutMs: job.spec.timeout,
        trigger,
        fn: run.fn,
        ...(scheduledFor ? { scheduledFor } : {}),
        onRecorded: (record) => {
          run.recorded?.(record);
          if (this.active.has(job.key)) job.report(ctx.status);
        },
      });
      job.report(ctx.status);
      const record = await running;
      if (!record) ctx.log.warn({ key: job.key }, 'run skipped: the previous run is still in progress (concurrencyPolicy Forbid)');
      return record;
    } catch (err) {
      // Only a bug lands here (the runner records job failures); keep the schedule going.
      ctx.log.error({ err: this.deps.scrub((err as Error).message) }, 'could not start the run');
      return undefined;
    }
  }

  async removeContainers(containers: readonly JobContainer[], log: Logger): Promise<void> {
    for (const c of containers) {
      log.info({ container: c.name, state: c.state }, 'removing leftover job container');
      await this.deps.containers.remove(c.id);
    }
  }

  /**
   * Stops scheduling `key` (its run history stays), removes its leftovers and, unless it waits for
   * a run in progress, drops its metrics and status. `done` says whether it is gone for good.
   */
  async retire(key: string, action: RetireAction, ctx: JobContext): Promise<{ result: ReconcileResult; done: boolean }> {
    this.active.delete(key);
    this.deps.history.forgetSchedule(key);
    await this.removeContainers(action.containers, ctx.log);
    if (action.action === 'wait') {
      ctx.status.setCondition(key, 'Ready', 'False', 'Removing', action.reason);
      return { done: false, result: action.requeueAfterMs !== undefined ? { requeueAfterMs: action.requeueAfterMs } : {} };
    }
    this.deps.runner.untrack(key);
    ctx.status.remove(key);
    return { done: true, result: {} };
  }

  private async jobContainers(key: string): Promise<JobContainer[]> {
    const out: JobContainer[] = [];
    for (const c of await this.deps.containers.list(this.deps.own.selector({ [LABEL_JOB]: key }))) {
      const startedAt = c.state === 'running' ? (await this.deps.containers.inspect(c.id))?.startedAt : undefined;
      out.push({ id: c.id, name: c.name, state: c.state, ...(startedAt ? { startedAt } : {}) });
    }
    return out;
  }
}
