import type { Logger } from 'pino';
import type { DockerClients } from '../../adapters/docker/index.js';
import { type AgentEvent, type ApplyContext, type ObserveContext, type ReconcileResult, type Reconciler, resourceKey } from '../../engine/reconcile.js';
import { secretScrubber } from '../../log.js';
import type { DesiredState } from '../../manifests/desired-state.js';
import type { ScheduleSpec } from '../../manifests/kinds/schedule.js';
import type { Resource } from '../../manifests/resource.js';
import { resolveValue, type SecretSource } from '../../manifests/secrets.js';
import type { StatusBoard } from '../../state/status-board.js';
import { execJob, oneOffJob } from '../../schedule/container-jobs.js';
import { type JobObservation, scheduleId, type SlotStep } from '../../schedule/job-plan.js';
import type { JobFn, JobRunner } from '../../schedule/job-runner.js';
import type { RunHistory, RunRecord } from '../../schedule/run-history.js';
import { type JobContext, type JobRun, type ScheduledJob, ScheduledJobs } from '../../schedule/scheduled-jobs.js';
import { Ownership } from '../ownership.js';
import { plan, type ScheduleAction } from './plan.js';

const KIND = 'Schedule';

export interface ScheduleReconcilerOptions {
  instance: string;
  secrets: SecretSource;
}

/**
 * Runs Schedules through the scheduled-job skeleton: at each due slot the job starts in the
 * background (tracked by the JobRunner, so the work queue stays free), lastScheduled is recorded,
 * and the key is looked at again at the next slot. A removed Schedule keeps its history; its
 * leftover job containers are removed once none of its runs is in flight.
 */
export class ScheduleReconciler implements Reconciler<'Schedule', JobObservation, ScheduleAction> {
  readonly kind = KIND;
  private readonly own: Ownership;
  private readonly scrub: (text: string) => string;
  private readonly jobs: ScheduledJobs<'Schedule'>;

  constructor(
    private readonly docker: DockerClients,
    private readonly history: RunHistory,
    private readonly runner: JobRunner,
    private readonly opts: ScheduleReconcilerOptions,
  ) {
    this.own = new Ownership(opts.instance);
    this.scrub = secretScrubber(() => opts.secrets.values());
    this.jobs = new ScheduledJobs(KIND, { history, runner, containers: docker.containers, own: this.own, scrub: this.scrub });
  }

  async listOwned(): Promise<string[]> {
    return [...new Set([...this.jobs.bookmarkedNames(), ...(await this.jobs.namesWithContainers())])];
  }

  observe(name: string, ctx: ObserveContext): Promise<JobObservation> {
    const res = ctx.desired.get(KIND, name);
    return this.jobs.observe(name, { ...(res ? { scheduleId: scheduleId(res.spec) } : {}), containers: true });
  }

  plan(desired: Resource<ScheduleSpec> | undefined, observed: JobObservation, now: Date): ScheduleAction[] {
    return plan(desired, observed, now);
  }

  async apply(actions: readonly ScheduleAction[], ctx: ApplyContext<JobObservation>): Promise<ReconcileResult> {
    let result: ReconcileResult = {};
    for (const a of actions) {
      if (a.type === 'leftovers') await this.jobs.removeContainers(a.containers, ctx.log);
      else if (a.type === 'retire') result = (await this.jobs.retire(ctx.key, a, ctx)).result;
      else {
        const res = this.jobs.declared(ctx.desired, ctx.name);
        result = this.jobs.applySlot(this.jobOf(res), a, () => this.newRun(res, ctx.log), ctx);
      }
    }
    return result;
  }

  mapEvent(event: AgentEvent): string[] {
    return this.jobs.mapEvent(event);
  }

  /**
   * Runs the Schedule now (trigger "manual"), under its concurrencyPolicy and timeout, and resolves
   * with the finished run. Throws if it is not declared or if Forbid refuses because a run is in progress.
   */
  async runNow(name: string, desired: DesiredState, ctx: JobContext): Promise<RunRecord> {
    const res = this.jobs.declared(desired, name);
    return this.jobs.runNow(this.jobOf(res), this.newRun(res, ctx.log), ctx);
  }

  private jobOf(res: Resource<ScheduleSpec>): ScheduledJob {
    const key = resourceKey(KIND, res.name);
    return { key, spec: res.spec, report: (status, slot) => this.report(status, key, res, slot) };
  }

  /** The job with secrets resolved at run time and scrubbed from everything it reports. */
  private newRun(res: Resource<ScheduleSpec>, log: Logger): JobRun {
    const spec = res.spec;
    const envSpec = spec.exec?.env ?? spec.run?.env ?? {};
    const inner: JobFn = async (signal, run) => {
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
            log,
          });
      return job(signal, run);
    };
    return {
      fn: async (signal, run) => {
        try {
          const r = await inner(signal, run);
          return { ...r, outputTail: this.scrub(r.outputTail) };
        } catch (err) {
          throw new Error(this.scrub((err as Error).message));
        }
      },
    };
  }

  /** Status as /status shows it: Ready, LastRunSucceeded, and the run facts (never output secrets). */
  private report(status: StatusBoard, key: string, res: Resource<ScheduleSpec>, slot?: SlotStep): void {
    const spec = res.spec;
    if (slot?.readyReason !== undefined) status.setCondition(key, 'Ready', 'True', spec.suspend ? 'Suspended' : 'Scheduled', slot.readyReason);
    const last = this.history.lastFinished(key);
    const ok = this.history.lastSuccess(key);
    if (last) status.setCondition(key, 'LastRunSucceeded', last.succeeded ? 'True' : 'False', last.succeeded ? 'Succeeded' : 'Failed', last.succeeded ? '' : summary(last));
    status.setDetails(key, {
      schedule: spec.schedule,
      timeZone: spec.timeZone,
      suspended: spec.suspend,
      ...(slot?.next ? { nextRun: slot.next.toISOString() } : {}),
      lastScheduled: this.history.getLastScheduled(key)?.toISOString(),
      running: this.runner.runningRecords(key).map((r) => ({ id: r.id, trigger: r.trigger, startedAt: r.startedAt })),
      lastRun: last ? brief(last) : undefined,
      lastSuccess: ok?.finishedAt,
    });
  }
}


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
