import type { Logger } from 'pino';
import { LABEL_JOB } from '../adapters/docker-types.js';
import type { DockerClients } from '../adapters/docker/index.js';
import { secretScrubber } from '../log.js';
import type { DesiredState } from '../manifests/desired-state.js';
import { scheduleTiming } from '../manifests/kinds/schedule-fields.js';
import type { ScheduleSpec } from '../manifests/kinds/schedule.js';
import type { Resource } from '../manifests/resource.js';
import { resolveValue, type SecretSource } from '../manifests/secrets.js';
import { execJob, oneOffJob } from '../schedule/container-jobs.js';
import { scheduleDecision } from '../schedule/decision.js';
import type { JobFn, JobRunner } from '../schedule/job-runner.js';
import type { RunHistory, RunRecord, RunTrigger } from '../schedule/run-history.js';
import type { StatusBoard } from '../state/status-board.js';
import { Ownership } from './ownership.js';
import { resourceKey, type PlannedAction, type ReconcileContext, type ReconcileResult, type LegacyReconciler } from './types.js';

const KIND = 'Schedule';
/** Look again at least this often, so a wall-clock jump (NTP, suspend/resume) is noticed. */
const MAX_REQUEUE_MS = 3_600_000;
/** Timers may fire a hair before the slot by the wall clock; landing just after it avoids a wasted turn. */
const REQUEUE_SLACK_MS = 250;
/** A running job container nobody here tracks is an orphan after the job's timeout plus this. */
const ORPHAN_GRACE_MS = 60_000;
/** The orphan age for a removed Schedule, whose timeout is no longer known (the default timeout). */
const DEFAULT_ORPHAN_AFTER_MS = 3_600_000;

export interface ScheduleReconcilerOptions {
  instance: string;
  secrets: SecretSource;
  /** Used by runNow, which has no ReconcileContext; reconcile uses ctx.now. */
  now?: () => Date;
  log?: Logger;
}

/**
 * Runs Schedules: at each due slot, starts the job in the background (tracked by the JobRunner, so
 * the work queue stays free), records lastScheduled, and asks to be looked at again at the next slot.
 * A removed Schedule keeps its history; its leftover job containers are removed once none of its
 * runs is in flight.
 */
export class ScheduleReconciler implements LegacyReconciler {
  readonly kind = KIND;
  private readonly own: Ownership;
  private readonly scrub: (text: string) => string;
  private readonly now: () => Date;
  /** Keys whose status may still be written when a background run ends (removed keys are dropped). */
  private readonly active = new Set<string>();
  private status: StatusBoard | undefined;

  constructor(
    private readonly docker: DockerClients,
    private readonly history: RunHistory,
    private readonly runner: JobRunner,
    private readonly opts: ScheduleReconcilerOptions,
  ) {
    this.own = new Ownership(opts.instance);
    this.scrub = secretScrubber(() => opts.secrets.values());
    this.now = opts.now ?? (() => new Date());
  }

  async listOwned(): Promise<string[]> {
    const names = new Set<string>();
    for (const [key] of this.history.bookmarks()) if (key.startsWith(`${KIND}/`)) names.add(key.slice(KIND.length + 1));
    for (const c of await this.jobContainers()) {
      const job = c.labels[LABEL_JOB] ?? '';
      if (job.startsWith(`${KIND}/`)) names.add(job.slice(KIND.length + 1));
    }
    return [...names];
  }

  async plan(name: string, ctx: ReconcileContext): Promise<PlannedAction[]> {
    const key = resourceKey(KIND, name);
    const res = ctx.desired.get(KIND, name);
    if (!res) {
      const leftovers = await this.jobContainers(key);
      return leftovers.length > 0
        ? [{ kind: KIND, name, action: 'remove', reason: `no longer declared: ${leftovers.length} leftover job container(s) removed, run history kept` }]
        : [];
    }
    const d = scheduleDecision(scheduleTiming(res.spec), res.spec.suspend, this.history.getLastScheduled(key, scheduleId(res.spec)), ctx.now());
    if (d.action === 'run') {
      const note = this.runner.isRunning(key) ? ` (a run is in progress; concurrencyPolicy ${res.spec.concurrencyPolicy})` : '';
      return [{ kind: KIND, name, action: 'run', reason: `${d.reason}${note}` }];
    }
    return [{ kind: KIND, name, action: 'skip', reason: d.reason }];
  }

  async reconcile(name: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const key = resourceKey(KIND, name);
    this.status = ctx.status;
    const res = ctx.desired.get(KIND, name);
    if (!res) return this.removed(key, ctx);

    this.active.add(key);
    this.history.setLimit(key, res.spec.historyLimit);
    this.runner.track(key);
    if (!this.runner.isRunning(key)) await this.removeLeftovers(key, ctx.log, res.spec.timeout);

    const now = ctx.now();
    const id = scheduleId(res.spec);
    const d = scheduleDecision(scheduleTiming(res.spec), res.spec.suspend, this.history.getLastScheduled(key, id), now);
    if (d.bookmark) this.history.setLastScheduled(key, d.bookmark, id);
    if (d.skippedMissed > 0) ctx.log.warn({ skipped: d.skippedMissed }, 'missed schedule slots skipped (run once after downtime)');
    if (d.action === 'run') {
      ctx.log.info({ due: d.due.toISOString(), trigger: d.trigger }, d.reason);
      void this.start(res, d.trigger, d.due, ctx.log);
    }
    this.report(key, res, d.next, d.reason);
    if (!d.next) return {};
    return { requeueAfterMs: Math.min(MAX_REQUEUE_MS, Math.max(0, d.next.getTime() - now.getTime()) + REQUEUE_SLACK_MS) };
  }

  /**
   * Runs the Schedule now (trigger "manual"), under its concurrencyPolicy and timeout, and resolves
   * with the finished run. Throws if it is not declared or if Forbid refuses because a run is in progress.
   */
  async runNow(name: string, desired: DesiredState): Promise<RunRecord> {
    const res = desired.get(KIND, name);
    if (!res) throw new Error(`${KIND}/${name} is not declared in the manifests`);
    const key = resourceKey(KIND, name);
    this.history.setLimit(key, res.spec.historyLimit);
    this.runner.track(key);
    const record = await this.start(res, 'manual', undefined, this.opts.log);
    if (!record) throw new Error(`${key} is already running and its concurrencyPolicy is Forbid`);
    return record;
  }

  /** Starts a run and resolves when it is recorded (undefined if Forbid skipped it); never rejects. */
  private async start(res: Resource<ScheduleSpec>, trigger: RunTrigger, scheduledFor: Date | undefined, log: Logger | undefined): Promise<RunRecord | undefined> {
    const key = resourceKey(KIND, res.name);
    this.active.add(key);
    try {
      const job = this.jobFor(res, log);
      const running = this.runner.run(key, res.spec.concurrencyPolicy, res.spec.timeout, trigger, job, scheduledFor);
      this.report(key, res);
      const record = await running;
      if (!record) log?.warn({ key }, 'run skipped: the previous run is still in progress (concurrencyPolicy Forbid)');
      return record;
    } catch (err) {
      // Only a bug can land here (the runner records job failures); keep the schedule going.
      log?.error({ err: this.scrub((err as Error).message) }, 'could not start the job');
      return undefined;
    } finally {
      if (this.active.has(key)) this.report(key, res);
    }
  }

  /** The job with secrets resolved at run time and scrubbed from everything it reports. */
  private jobFor(res: Resource<ScheduleSpec>, log: Logger | undefined): JobFn {
    const spec = res.spec;
    const envSpec = spec.exec?.env ?? spec.run?.env ?? {};
    const inner: JobFn = async (signal) => {
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(envSpec)) {
        try {
          env[k] = resolveValue(v, this.opts.secrets, res.source.dir);
        } catch (err) {
          throw new Error(`env ${k}: ${(err as Error).message}`);
        }
      }
      const job = spec.exec
        ? execJob(this.docker, this.own, spec.exec, env)
        : oneOffJob(this.docker, this.own, spec.run as NonNullable<ScheduleSpec['run']>, env, {
            jobKey: resourceKey(KIND, res.name),
            baseName: res.name,
            baseDir: res.source.dir,
            ...(log ? { log } : {}),
          });
      return job(signal);
    };
    return async (signal) => {
      try {
        const r = await inner(signal);
        return { ...r, outputTail: this.scrub(r.outputTail) };
      } catch (err) {
        throw new Error(this.scrub((err as Error).message));
      }
    };
  }

  private async removed(key: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    this.active.delete(key);
    this.history.forgetSchedule(key);
    // A run already started is left to finish (or time out); its container goes after.
    const waiting = this.runner.isRunning(key) ? 1 : await this.removeLeftovers(key, ctx.log);
    if (waiting > 0) {
      ctx.status.setCondition(key, 'Ready', 'False', 'Removing', 'no longer declared; waiting for the run in progress to finish');
      return { requeueAfterMs: 30_000 };
    }
    this.runner.untrack(key);
    ctx.status.remove(key);
    return {};
  }

  /**
   * Removes job containers of `key` that no run in this process tracks. A running one is left alone
   * until it has outlived the job's timeout: it may belong to a `run-now` in another process; past
   * that it is an orphan of an agent that stopped mid-run.
   */
  private async removeLeftovers(key: string, log: Logger, timeoutMs = DEFAULT_ORPHAN_AFTER_MS, now = this.now()): Promise<number> {
    let waiting = 0;
    for (const c of await this.jobContainers(key)) {
      if (c.state === 'running') {
        const startedAt = (await this.docker.containers.inspect(c.id))?.startedAt;
        if (startedAt && now.getTime() - startedAt.getTime() < timeoutMs + ORPHAN_GRACE_MS) {
          waiting++;
          continue;
        }
      }
      log.info({ container: c.name, state: c.state }, 'removing leftover job container');
      await this.docker.containers.remove(c.id);
    }
    return waiting;
  }

  private jobContainers(key?: string) {
    return this.docker.containers.list(this.own.selector(key ? { [LABEL_JOB]: key } : {})).then((list) => list.filter((c) => (c.labels[LABEL_JOB] ?? '').startsWith(`${KIND}/`)));
  }

  /** Status as /status shows it: Ready, LastRunSucceeded, and the run facts (never output secrets). */
  private report(key: string, res: Resource<ScheduleSpec>, next?: Date, reason?: string): void {
    const status = this.status;
    if (!status) return;
    const spec = res.spec;
    if (reason !== undefined) {
      status.setCondition(key, 'Ready', 'True', spec.suspend ? 'Suspended' : 'Scheduled', reason);
    }
    const last = this.history.lastFinished(key);
    const ok = this.history.lastSuccess(key);
    if (last) status.setCondition(key, 'LastRunSucceeded', last.succeeded ? 'True' : 'False', last.succeeded ? 'Succeeded' : 'Failed', last.succeeded ? '' : summary(last));
    status.setDetails(key, {
      schedule: spec.schedule,
      timeZone: spec.timeZone,
      suspended: spec.suspend,
      ...(next ? { nextRun: next.toISOString() } : {}),
      lastScheduled: this.history.getLastScheduled(key)?.toISOString(),
      running: this.runner.runningRecords(key).map((r) => ({ id: r.id, trigger: r.trigger, startedAt: r.startedAt })),
      lastRun: last ? brief(last) : undefined,
      lastSuccess: ok?.finishedAt,
    });
  }
}

/** Identifies the timing a bookmark was written for; a new cron or zone starts afresh. */
const scheduleId = (spec: ScheduleSpec): string => `${spec.schedule.trim()}|${spec.timeZone}`;

function brief(r: RunRecord): Record<string, unknown> {
  return {
    id: r.id,
    trigger: r.trigger,
    scheduledFor: r.scheduledFor,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    durationMs: r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : undefined,
    exitCode: r.exitCode,
    succeeded: r.succeeded,
    outputTail: r.outputTail.slice(-1024),
  };
}

function summary(r: RunRecord): string {
  const lastLine = r.outputTail.trim().split('\n').pop() ?? '';
  return `run ${r.id} ${r.exitCode !== undefined ? `exited ${r.exitCode}` : 'failed'}${lastLine ? `: ${lastLine.slice(0, 200)}` : ''}`;
}
