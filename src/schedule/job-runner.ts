import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { type AgentEvent, parseResourceKey } from '../engine/reconcile.js';
import type { ConcurrencyPolicy } from '../manifests/kinds/schedule-fields.js';
import { formatDuration } from '../util/duration.js';
import type { RunHistory, RunRecord, RunTrigger } from './run-history.js';

/** What a job function reports. A non-zero exit code is a failure; throwing is a failure too. */
export interface JobResult {
  exitCode: number;
  outputTail: string;
  details?: Record<string, unknown>;
}

/** The job itself; it must stop promptly when `signal` aborts (timeout, Replace, shutdown). */
export type JobFn = (signal: AbortSignal) => Promise<JobResult>;

export type RunResult = 'success' | 'failure' | 'timeout' | 'aborted';
const RESULTS: readonly (RunResult | 'skipped')[] = ['success', 'failure', 'timeout', 'aborted', 'skipped'];

interface InFlight {
  record: RunRecord;
  controller: AbortController;
  done: Promise<RunRecord>;
}

/** One run asked of the runner. */
export interface RunRequest {
  policy: ConcurrencyPolicy;
  timeoutMs: number;
  trigger: RunTrigger;
  fn: JobFn;
  /** The slot the run is for; absent for manual runs. */
  scheduledFor?: Date;
  /**
   * Told once the run is recorded, before the job-finished event goes out, so that the reconcile
   * the event causes sees what this writes (a backup's retry state, its status).
   */
  onRecorded?: (record: RunRecord) => void;
}

export type JobFinished = Extract<AgentEvent, { type: 'job-finished' }>;

export interface JobRunnerOptions {
  now?: () => Date;
  /** Told when a run has finished and is recorded (main.ts hands it to the controller's declared watches). */
  onFinished?: (event: JobFinished) => void;
  log?: Logger;
  /** Scrubs secret values from output and error messages before they are stored. */
  redact?: (text: string) => string;
  /** How long an aborted job may take to wind down before its run is closed without it. */
  abortGraceMs?: number;
}

class AbortReason extends Error {
  constructor(readonly result: 'timeout' | 'aborted', message: string) {
    super(message);
  }
}

/**
 * The kinds that run jobs, and the label each names its resource with: the same label as that
 * kind's other metrics (`certitrack_backup_*{backup}`), so the two join without relabelling.
 */
const RESOURCE_LABELS = { Schedule: 'schedule', Backup: 'backup' } as const;
type JobLabels = { kind: string } & Partial<Record<(typeof RESOURCE_LABELS)[keyof typeof RESOURCE_LABELS], string>>;

function jobLabels(key: string): JobLabels {
  const { kind, name } = parseResourceKey(key);
  const label = RESOURCE_LABELS[kind as keyof typeof RESOURCE_LABELS];
  if (!label) throw new Error(`${key}: the job runner runs only ${Object.keys(RESOURCE_LABELS).join(' and ')} jobs`);
  return { kind, [label]: name };
}

function metric<T>(registry: Registry, name: string, make: () => T): T {
  // Schedule and Backup share one runner; this keeps a second runner on the same registry from throwing.
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/**
 * Runs jobs for any scheduled kind with a concurrency policy and a timeout, records each run in the
 * RunHistory and exports the job metrics. In-flight runs are tracked in memory per resource key.
 */
export class JobRunner {
  private readonly inFlight = new Map<string, Set<InFlight>>();
  private readonly now: () => Date;
  private readonly redact: (text: string) => string;
  private readonly abortGraceMs: number;
  private readonly lastRun: Gauge;
  private readonly lastSuccess: Gauge;
  private readonly duration: Gauge;
  private readonly failures: Counter;
  private readonly runs: Counter;
  private readonly running: Gauge;

  constructor(
    private readonly history: RunHistory,
    registry: Registry,
    private readonly opts: JobRunnerOptions = {},
  ) {
    this.now = opts.now ?? (() => new Date());
    this.redact = opts.redact ?? ((t) => t);
    this.abortGraceMs = opts.abortGraceMs ?? 10_000;
    const labelNames = ['kind', ...Object.values(RESOURCE_LABELS)];
    const registers = [registry];
    this.lastRun = metric(registry, 'certitrack_job_last_run_timestamp_seconds', () =>
      new Gauge({ name: 'certitrack_job_last_run_timestamp_seconds', help: 'When the last run of the job finished (Unix time).', labelNames, registers }));
    this.lastSuccess = metric(registry, 'certitrack_job_last_success_timestamp_seconds', () =>
      new Gauge({ name: 'certitrack_job_last_success_timestamp_seconds', help: 'When the last successful run of the job finished (Unix time); alert when too old.', labelNames, registers }));
    this.duration = metric(registry, 'certitrack_job_duration_seconds', () =>
      new Gauge({ name: 'certitrack_job_duration_seconds', help: 'How long the last finished run of the job took.', labelNames, registers }));
    this.failures = metric(registry, 'certitrack_job_failures_total', () =>
      new Counter({ name: 'certitrack_job_failures_total', help: 'Runs that failed, timed out or were aborted.', labelNames, registers }));
    this.runs = metric(registry, 'certitrack_job_runs_total', () =>
      new Counter({ name: 'certitrack_job_runs_total', help: 'Runs by result (success, failure, timeout, aborted, skipped).', labelNames: [...labelNames, 'result'], registers }));
    this.running = metric(registry, 'certitrack_job_running', () =>
      new Gauge({ name: 'certitrack_job_running', help: 'Runs of the job in progress now.', labelNames, registers }));
  }

  /**
   * Creates every series of a job at 0 (so rate() and absent() behave from the start) and restores
   * the timestamp gauges from the persisted history; they stay 0 ("never") until a first run. Idempotent.
   */
  track(key: string): void {
    const l = jobLabels(key);
    this.failures.inc(l, 0);
    for (const result of RESULTS) this.runs.inc({ ...l, result }, 0);
    this.running.set(l, this.inFlight.get(key)?.size ?? 0);
    const last = this.history.lastFinished(key);
    const finished = last?.finishedAt ? Date.parse(last.finishedAt) : undefined;
    this.lastRun.set(l, finished !== undefined ? finished / 1000 : 0);
    this.duration.set(l, finished !== undefined && last ? (finished - Date.parse(last.startedAt)) / 1000 : 0);
    const ok = this.history.lastSuccess(key)?.finishedAt;
    this.lastSuccess.set(l, ok ? Date.parse(ok) / 1000 : 0);
  }

  /** Drops a removed job's series (history is kept). */
  untrack(key: string): void {
    const labels = jobLabels(key);
    for (const m of [this.lastRun, this.lastSuccess, this.duration, this.failures, this.running]) m.remove(labels);
    for (const result of RESULTS) this.runs.remove({ ...labels, result });
  }

  isRunning(key: string): boolean {
    return (this.inFlight.get(key)?.size ?? 0) > 0;
  }

  /** Runs in progress for `key`, oldest first. */
  runningRecords(key: string): RunRecord[] {
    return [...(this.inFlight.get(key) ?? [])].map((f) => f.record);
  }

  /**
   * Runs `req.fn` under `req.policy`: Forbid returns undefined (and counts a "skipped" run) when one is
   * already running; Replace aborts the running ones, waits for them (up to the abort grace) and
   * then starts; Allow starts alongside. The returned promise settles when the run is recorded; it
   * never rejects for a job failure (that is in the record).
   */
  async run(key: string, req: RunRequest): Promise<RunRecord | undefined> {
    const { policy, trigger } = req;
    const current = [...(this.inFlight.get(key) ?? [])];
    if (current.length > 0 && policy === 'Forbid') {
      this.runs.inc({ ...jobLabels(key), result: 'skipped' });
      this.opts.log?.info({ key, trigger }, 'run skipped: the previous run is still in progress (concurrencyPolicy Forbid)');
      return undefined;
    }
    if (policy === 'Replace') {
      // Loop: another Replace may have started a run while this one waited.
      for (let running = current; running.length > 0; running = [...(this.inFlight.get(key) ?? [])]) {
        for (const f of running) f.controller.abort(new AbortReason('aborted', 'replaced by a newer run (concurrencyPolicy Replace)'));
        await Promise.all(running.map((f) => f.done));
      }
    }
    return this.start(key, req);
  }

  /** Aborts the runs of one key, or of every key (shutdown); resolves when they are recorded. */
  async abort(key?: string, reason = 'the agent is shutting down'): Promise<void> {
    const targets = key ? [...(this.inFlight.get(key) ?? [])] : [...this.inFlight.values()].flatMap((s) => [...s]);
    for (const f of targets) f.controller.abort(new AbortReason('aborted', reason));
    await Promise.all(targets.map((f) => f.done));
  }

  /** Resolves when no run of `key` (or of any key) is in progress; for shutdown and tests. */
  async idle(key?: string): Promise<void> {
    for (;;) {
      const targets = key ? [...(this.inFlight.get(key) ?? [])] : [...this.inFlight.values()].flatMap((s) => [...s]);
      if (targets.length === 0) return;
      await Promise.all(targets.map((f) => f.done));
    }
  }

  private start(key: string, req: RunRequest): Promise<RunRecord> {
    const { timeoutMs, trigger, fn, scheduledFor } = req;
    const labels = jobLabels(key);
    const record = this.history.start(key, trigger, scheduledFor);
    const controller = new AbortController();
    const set = this.inFlight.get(key) ?? new Set<InFlight>();
    this.inFlight.set(key, set);
    const entry = { record, controller } as InFlight;
    set.add(entry);
    this.running.set(labels, set.size);
    const startedMs = Date.parse(record.startedAt);

    const timer = setTimeout(
      () => controller.abort(new AbortReason('timeout', `timed out after ${formatDuration(timeoutMs)}`)),
      timeoutMs,
    );
    timer.unref();

    entry.done = (async (): Promise<RunRecord> => {
      let result: RunResult;
      let exitCode: number | undefined;
      let output = '';
      let details: Record<string, unknown> | undefined;
      try {
        const res = await this.raceAbort(fn(controller.signal), controller.signal);
        exitCode = res.exitCode;
        output = res.outputTail;
        details = res.details;
        result = controller.signal.aborted ? this.abortResult(controller.signal) : res.exitCode === 0 ? 'success' : 'failure';
      } catch (err) {
        result = controller.signal.aborted ? this.abortResult(controller.signal) : 'failure';
        output = (err as Error).message ?? String(err);
      } finally {
        clearTimeout(timer);
      }
      if (result === 'timeout' || result === 'aborted') {
        const why = (controller.signal.reason as Error).message;
        if (!output.includes(why)) output = `${output}${output ? '\n' : ''}[${why}]`;
      }
      const finished = this.history.finish(key, record.id, {
        ...(exitCode !== undefined ? { exitCode } : {}),
        succeeded: result === 'success',
        outputTail: this.redact(output),
        ...(details ? { details } : {}),
      });
      set.delete(entry);
      if (set.size === 0 && this.inFlight.get(key) === set) this.inFlight.delete(key);
      const endSec = this.now().getTime() / 1000;
      this.running.set(labels, set.size);
      this.lastRun.set(labels, endSec);
      this.duration.set(labels, Math.max(0, endSec - startedMs / 1000));
      this.runs.inc({ ...labels, result });
      if (result === 'success') this.lastSuccess.set(labels, endSec);
      else this.failures.inc(labels);
      // A failed run is something to look at; a successful one is routine.
      this.opts.log?.[result === 'success' ? 'info' : 'warn']({ key, runId: record.id, trigger, result, exitCode }, `run ${result}`);
      try {
        req.onRecorded?.(finished);
      } catch (err) {
        // Bookkeeping after the record must not lose the run or wedge whoever waits for it.
        this.opts.log?.error({ key, err: this.redact((err as Error).message) }, 'recording the end of the run failed');
      }
      this.opts.onFinished?.({ type: 'job-finished', key, succeeded: finished.succeeded === true });
      return finished;
    })();
    return entry.done;
  }

  private abortResult(signal: AbortSignal): RunResult {
    return signal.reason instanceof AbortReason ? signal.reason.result : 'aborted';
  }

  /** Resolves with the job, or rejects once it has ignored an abort for longer than the grace period. */
  private raceAbort<T>(job: Promise<T>, signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let graceTimer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        graceTimer = setTimeout(() => reject(new Error(`the job did not stop within ${formatDuration(this.abortGraceMs)} of being aborted`)), this.abortGraceMs);
        graceTimer.unref();
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      job.then(
        (v) => {
          clearTimeout(graceTimer);
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(graceTimer);
          signal.removeEventListener('abort', onAbort);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }
}
