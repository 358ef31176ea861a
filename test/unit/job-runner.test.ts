import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type JobFinished, JobRunner, type JobResult } from '../../src/schedule/job-runner.js';
import { RunHistory } from '../../src/schedule/run-history.js';
import { DurableState } from '../../src/state/durable-state.js';

let dir: string;
let state: DurableState;
let history: RunHistory;
let registry: Registry;
let runner: JobRunner;
let finished: JobFinished[];
/** The runner's clock: it moves only when a test moves it. */
let nowMs: number;
const KEY = 'Schedule/nightly';

/** A job that finishes when told to, or stops (rejecting) when aborted. */
function controllable(result: JobResult = { exitCode: 0, outputTail: 'ok\n' }) {
  let finish!: () => void;
  let started!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  const state = { aborted: false };
  const fn = (signal: AbortSignal) =>
    new Promise<JobResult>((resolve, reject) => {
      started();
      finish = () => resolve(result);
      signal.addEventListener('abort', () => {
        state.aborted = true;
        reject(new Error('stopped by signal'));
      });
    });
  return { fn, started: startedP, finish: () => finish(), state };
}

async function metricValue(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values as { value: number; labels: Record<string, string> }[] | undefined)?.find((x) =>
    Object.entries(labels).every(([k, val]) => x.labels[k] === val),
  );
  return v?.value;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'job-runner-'));
  state = await DurableState.open(dir, { flushDelayMs: 10 });
  nowMs = Date.parse('2026-03-01T02:00:00Z');
  const now = (): Date => new Date(nowMs);
  history = new RunHistory(state, now);
  registry = new Registry();
  finished = [];
  runner = new JobRunner(history, registry, { now, abortGraceMs: 200, redact: (t) => t.replaceAll('hunter2', '***'), onFinished: (e) => finished.push(e) });
});
afterEach(async () => {
  await runner.abort();
  await state.flush();
  await rm(dir, { recursive: true, force: true });
});

describe('JobRunner', () => {
  it('records a successful run with exit code, output and metrics', async () => {
    runner.track(KEY);
    expect(await metricValue('certitrack_job_runs_total', { kind: 'Schedule', schedule: 'nightly', result: 'failure' })).toBe(0);
    const rec = await runner.run(KEY, { policy: 'Forbid', timeoutMs: 5000, trigger: 'schedule', fn: async () => ({ exitCode: 0, outputTail: 'done password=hunter2\n', details: { bytes: 42 } }), scheduledFor: new Date('2025-01-01T02:00:00Z') });
    expect(rec).toMatchObject({ key: KEY, trigger: 'schedule', exitCode: 0, succeeded: true, scheduledFor: '2025-01-01T02:00:00.000Z', outputTail: 'done password=***\n', details: { bytes: 42 } });
    expect(history.last(KEY)?.id).toBe(rec?.id);
    expect(history.lastSuccess(KEY)?.id).toBe(rec?.id);
    const labels = { kind: 'Schedule', schedule: 'nightly' };
    expect(await metricValue('certitrack_job_runs_total', { ...labels, result: 'success' })).toBe(1);
    expect(await metricValue('certitrack_job_failures_total', labels)).toBe(0);
    expect(await metricValue('certitrack_job_last_success_timestamp_seconds', labels)).toBe(nowMs / 1000);
    expect(await metricValue('certitrack_job_duration_seconds', labels)).toBe(0);
    expect(await metricValue('certitrack_job_running', labels)).toBe(0);
  });

  it('creates every series of a job at 0 when it is tracked, before its first run', async () => {
    runner.track(KEY);
    const labels = { kind: 'Schedule', schedule: 'nightly' };
    const families = ['certitrack_job_last_run_timestamp_seconds', 'certitrack_job_last_success_timestamp_seconds', 'certitrack_job_duration_seconds', 'certitrack_job_failures_total', 'certitrack_job_running'];
    for (const name of families) expect({ name, value: await metricValue(name, labels) }).toEqual({ name, value: 0 });
    for (const result of ['success', 'failure', 'timeout', 'aborted', 'skipped']) expect(await metricValue('certitrack_job_runs_total', { ...labels, result })).toBe(0);
    // A Backup's job series carry `backup`, the label of the other backup metrics; nothing is labelled `name`.
    runner.track('Backup/db');
    expect(await metricValue('certitrack_job_runs_total', { kind: 'Backup', backup: 'db', result: 'success' })).toBe(0);
    expect(await registry.metrics()).not.toMatch(/[{,]name=/);
    // Tracking again (every reconcile does) keeps what a run recorded.
    await runner.run(KEY, { policy: 'Forbid', timeoutMs: 5000, trigger: 'schedule', fn: async () => ({ exitCode: 0, outputTail: '' }) });
    runner.track(KEY);
    expect(await metricValue('certitrack_job_last_success_timestamp_seconds', labels)).toBeGreaterThan(0);
  });

  it('a non-zero exit and a thrown error are failures, with their output', async () => {
    const failed = await runner.run(KEY, { policy: 'Allow', timeoutMs: 5000, trigger: 'manual', fn: async () => ({ exitCode: 3, outputTail: 'pg_dump: error: connection refused\n' }) });
    expect(failed).toMatchObject({ succeeded: false, exitCode: 3, outputTail: 'pg_dump: error: connection refused\n' });
    const thrown = await runner.run(KEY, { policy: 'Allow', timeoutMs: 5000, trigger: 'manual', fn: async () => {
      throw new Error('service "db" has no running container');
    } });
    expect(thrown).toMatchObject({ succeeded: false, outputTail: 'service "db" has no running container' });
    expect(thrown?.exitCode).toBeUndefined();
    const labels = { kind: 'Schedule', schedule: 'nightly' };
    expect(await metricValue('certitrack_job_failures_total', labels)).toBe(2);
    expect(await metricValue('certitrack_job_runs_total', { ...labels, result: 'failure' })).toBe(2);
    expect(await metricValue('certitrack_job_last_success_timestamp_seconds', labels)).toBeUndefined();
  });

  it('Forbid skips while a run is in progress', async () => {
    const a = controllable();
    const first = runner.run(KEY, { policy: 'Forbid', timeoutMs: 5000, trigger: 'schedule', fn: a.fn });
    await a.started;
    expect(runner.isRunning(KEY)).toBe(true);
    expect(await metricValue('certitrack_job_running', { kind: 'Schedule', schedule: 'nightly' })).toBe(1);
    const second = await runner.run(KEY, { policy: 'Forbid', timeoutMs: 5000, trigger: 'schedule', fn: async () => ({ exitCode: 0, outputTail: '' }) });
    expect(second).toBeUndefined();
    a.finish();
    expect((await first)?.succeeded).toBe(true);
    expect(history.list(KEY)).toHaveLength(1);
    expect(await metricValue('certitrack_job_runs_total', { kind: 'Schedule', schedule: 'nightly', result: 'skipped' })).toBe(1);
  });

  it('Replace aborts the running one, then starts', async () => {
    const a = controllable();
    const first = runner.run(KEY, { policy: 'Replace', timeoutMs: 5000, trigger: 'schedule', fn: a.fn });
    await a.started;
    const firstId = runner.runningRecords(KEY)[0]?.id;
    let firstRecordedBeforeSecondStarted = false;
    const second = await runner.run(KEY, {
      policy: 'Replace',
      timeoutMs: 5000,
      trigger: 'manual',
      fn: async () => {
        firstRecordedBeforeSecondStarted = history.list(KEY).find((r) => r.id === firstId)?.finishedAt !== undefined;
        return { exitCode: 0, outputTail: 'second' };
      },
    });
    const firstRec = await first;
    expect(a.state.aborted).toBe(true);
    expect(firstRec?.succeeded).toBe(false);
    expect(firstRec?.outputTail).toMatch(/replaced by a newer run/);
    expect(second?.succeeded).toBe(true);
    // The replaced run had finished (been recorded) before the new one started.
    expect(firstRecordedBeforeSecondStarted).toBe(true);
    expect(await metricValue('certitrack_job_runs_total', { kind: 'Schedule', schedule: 'nightly', result: 'aborted' })).toBe(1);
  });

  it('Allow runs concurrently', async () => {
    const a = controllable();
    const b = controllable();
    const p1 = runner.run(KEY, { policy: 'Allow', timeoutMs: 5000, trigger: 'schedule', fn: a.fn });
    const p2 = runner.run(KEY, { policy: 'Allow', timeoutMs: 5000, trigger: 'schedule', fn: b.fn });
    await Promise.all([a.started, b.started]);
    expect(runner.runningRecords(KEY)).toHaveLength(2);
    b.finish();
    a.finish();
    const [r1, r2] = await Promise.all([p1, p2]);
    expect(r1?.succeeded && r2?.succeeded).toBe(true);
    expect(runner.isRunning(KEY)).toBe(false);
  });

  it('a timeout aborts the job and records it as a failure', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const a = controllable();
      const running = runner.run(KEY, { policy: 'Forbid', timeoutMs: 150, trigger: 'schedule', fn: a.fn });
      await a.started;
      await vi.advanceTimersByTimeAsync(149);
      expect(a.state.aborted).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(a.state.aborted).toBe(true);
      const rec = await running;
      expect(rec).toMatchObject({ succeeded: false });
      expect(rec?.outputTail).toMatch(/timed out after 150ms/);
    } finally {
      vi.useRealTimers();
    }
    expect(await metricValue('certitrack_job_runs_total', { kind: 'Schedule', schedule: 'nightly', result: 'timeout' })).toBe(1);
    expect(await metricValue('certitrack_job_failures_total', { kind: 'Schedule', schedule: 'nightly' })).toBe(1);
  });

  it('a job that ignores the abort is closed after the grace period', async () => {
    const rec = await runner.run(KEY, { policy: 'Forbid', timeoutMs: 50, trigger: 'schedule', fn: () => new Promise<JobResult>(() => undefined) });
    expect(rec?.succeeded).toBe(false);
    expect(rec?.outputTail).toMatch(/did not stop within/);
    expect(runner.isRunning(KEY)).toBe(false);
  });

  it('keeps the last N runs but never loses the last success; persists and restores', async () => {
    history.setLimit(KEY, 3);
    await runner.run(KEY, { policy: 'Forbid', timeoutMs: 5000, trigger: 'schedule', fn: async () => ({ exitCode: 0, outputTail: 'good' }) });
    for (let i = 0; i < 4; i++) await runner.run(KEY, { policy: 'Forbid', timeoutMs: 5000, trigger: 'schedule', fn: async () => ({ exitCode: 1, outputTail: `bad ${i}` }) });
    expect(history.list(KEY).map((r) => r.outputTail)).toEqual(['bad 3', 'bad 2', 'bad 1']);
    expect(history.lastSuccess(KEY)?.outputTail).toBe('good');
    history.setLastScheduled(KEY, new Date('2025-01-01T01:00:00Z'));
    history.start(KEY, 'schedule'); // left unfinished, as if the agent died mid-run
    await state.flush();

    const reopened = new RunHistory(await DurableState.open(dir));
    expect(reopened.getLastScheduled(KEY)?.toISOString()).toBe('2025-01-01T01:00:00.000Z');
    // A bookmark written for another cron expression does not count for the edited schedule.
    reopened.setLastScheduled(KEY, new Date('2025-01-01T01:00:00Z'), '0 2 * * *|UTC');
    expect(reopened.getLastScheduled(KEY, '0 2 * * *|UTC')?.toISOString()).toBe('2025-01-01T01:00:00.000Z');
    expect(reopened.getLastScheduled(KEY, '0 12 * * *|UTC')).toBeUndefined();
    expect(reopened.lastSuccess(KEY)?.outputTail).toBe('good');
    expect(reopened.recoverInterrupted()).toBe(1);
    expect(reopened.last(KEY)).toMatchObject({ succeeded: false, outputTail: expect.stringMatching(/interrupted/) });

    const registry2 = new Registry();
    new JobRunner(reopened, registry2).track(KEY);
    const m = (await registry2.getMetricsAsJSON()).find((x) => x.name === 'certitrack_job_last_success_timestamp_seconds');
    expect(m?.values[0]?.value).toBe(Date.parse(reopened.lastSuccess(KEY)?.finishedAt ?? '') / 1000);
  });

  it('announces each finished run as a job-finished event, after the run\'s own bookkeeping', async () => {
    const seenAtRecord: number[] = [];
    await runner.run(KEY, { policy: 'Forbid', timeoutMs: 5000, trigger: 'schedule', fn: async () => ({ exitCode: 0, outputTail: '' }), onRecorded: () => seenAtRecord.push(finished.length) });
    await runner.run(KEY, { policy: 'Forbid', timeoutMs: 5000, trigger: 'manual', fn: async () => ({ exitCode: 2, outputTail: '' }) });
    // A run skipped by Forbid never ran, so nothing finished.
    const a = controllable();
    const third = runner.run(KEY, { policy: 'Forbid', timeoutMs: 5000, trigger: 'schedule', fn: a.fn });
    await a.started;
    expect(await runner.run(KEY, { policy: 'Forbid', timeoutMs: 5000, trigger: 'schedule', fn: async () => ({ exitCode: 0, outputTail: '' }) })).toBeUndefined();
    a.finish();
    await third;
    expect(finished).toEqual([
      { type: 'job-finished', key: KEY, succeeded: true },
      { type: 'job-finished', key: KEY, succeeded: false },
      { type: 'job-finished', key: KEY, succeeded: true },
    ]);
    expect(seenAtRecord).toEqual([0]);
  });

  it('a failing onRecorded neither loses the run nor the event', async () => {
    const rec = await runner.run(KEY, {
      policy: 'Forbid',
      timeoutMs: 5000,
      trigger: 'schedule',
      fn: async () => ({ exitCode: 0, outputTail: 'ok' }),
      onRecorded: () => {
        throw new Error('bookkeeping bug');
      },
    });
    expect(rec?.succeeded).toBe(true);
    expect(history.lastFinished(KEY)?.id).toBe(rec?.id);
    expect(finished).toHaveLength(1);
  });

  it('keeps only the last 4 KiB of output', async () => {
    const rec = await runner.run(KEY, { policy: 'Forbid', timeoutMs: 5000, trigger: 'schedule', fn: async () => ({ exitCode: 0, outputTail: 'x'.repeat(10_000) + 'END' }) });
    expect(Buffer.byteLength(rec?.outputTail ?? '')).toBe(4096);
    expect(rec?.outputTail.endsWith('END')).toBe(true);
  });
});
