import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DockerClients } from '../../src/adapters/docker/index.js';
import { LocalDestination } from '../../src/adapters/local-destination.js';
import { BackupCatalog } from '../../src/backup/backup-catalog.js';
import type { DestinationFactory } from '../../src/backup/destination-factory.js';
import { ListingError } from '../../src/backup/destination.js';
import { renderPlan } from '../../src/cli/plan-output.js';
import { Controller } from '../../src/engine/controller.js';
import { EngineMetrics } from '../../src/engine/engine-metrics.js';
import type { DesiredState } from '../../src/manifests/desired-state.js';
import { kindNames } from '../../src/manifests/kinds/index.js';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { DEFAULT_POLICY, hostRules } from '../../src/manifests/host-policy.js';
import { Ownership } from '../../src/reconcilers/ownership.js';
import { BackupReconciler } from '../../src/reconcilers/backup/backup-reconciler.js';
import { JobRunner } from '../../src/schedule/job-runner.js';
import { RunHistory } from '../../src/schedule/run-history.js';
import { DurableState } from '../../src/state/durable-state.js';
import { StatusBoard } from '../../src/state/status-board.js';
import { reconcileOnce, type StepContext } from '../helpers/reconcile.js';

// File sources and a local destination need no Docker: the adapter must never be called.
const refuseClient = (name: string): object => new Proxy({}, { get: (_t, p) => () => Promise.reject(new Error(`docker.${name}.${String(p)} called`)) });
const noDocker = { containers: refuseClient('containers'), images: refuseClient('images'), networks: refuseClient('networks'), volumes: refuseClient('volumes'), events: refuseClient('events') } as DockerClients;
const log = pino({ level: 'silent' });

let work: string;
let desired: DesiredState;
let state: DurableState;
let history: RunHistory;
let runner: JobRunner;
let registry: Registry;
let status: StatusBoard;
let now: Date;
let failListing: boolean;

const ctx = (): StepContext => ({ desired, now: () => now, status });
const jobCtx = () => ({ status, log });
const secrets = new StaticSecrets({});

/** The real local destination, whose listing fails on demand. */
function destinations(): DestinationFactory {
  const real = new LocalDestination(join(work, 'dest'));
  return () => ({
    prefix: 'p',
    destination: {
      description: real.description,
      put: (k, b, o) => real.put(k, b, o),
      get: (k) => real.get(k),
      delete: (k) => real.delete(k),
      list: (p) => (failListing ? Promise.reject(new ListingError('injected: listing failed')) : real.list(p)),
    },
  });
}

function make(): BackupReconciler {
  return new BackupReconciler(noDocker, history, runner, registry, {
    instance: 'unit',
    secrets,
    state,
    agentVersion: 'test',
    helperImage: 'unused',
    destinations: destinations(),
    now: () => now,
  });
}

function catalog(): BackupCatalog {
  return new BackupCatalog({
    desired: () => desired,
    destinations: destinations(),
    sources: { docker: noDocker, own: new Ownership('unit'), secrets, helperImage: 'unused' },
    instance: 'unit',
    isRunning: (key) => runner.isRunning(key),
    scrub: (t) => t,
    now: () => now,
    log,
  });
}

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'backup-rec-'));
  await mkdir(join(work, 'm'));
  await writeFile(
    join(work, 'm', 'b.yaml'),
    `apiVersion: certitrack.io/v1
kind: Backup
metadata: { name: env }
spec:
  schedule: "0 2 * * *"
  timeZone: Europe/Madrid
  sources: [{ file: { path: ../config/.env } }]
  retention: { keepLast: 2 }
`,
  );
  const loaded = await loadManifests(join(work, 'm'), { secrets: new StaticSecrets({}), rules: hostRules({ ...DEFAULT_POLICY, allowedRoots: [work] }) });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  desired = loaded.state;
  state = await DurableState.open(join(work, 'state'));
  history = new RunHistory(state, () => now);
  registry = new Registry();
  runner = new JobRunner(history, registry, { now: () => now });
  status = new StatusBoard(undefined, () => now);
  failListing = false;
});
afterEach(async () => {
  await runner.idle();
  // A coalesced write may still be pending; removing the folder under it races the temp file.
  await state.flush();
  await rm(work, { recursive: true, force: true });
});

const retryOf = () => (status.get('Backup/env')?.details as { retry?: { attempt: number; nextAt: string; step: string } }).retry;

describe('BackupReconciler scheduling, retries and retention', () => {
  it('waits for the first slot, runs when due, retries a failure with doubling backoff, and the next slot supersedes the retries', async () => {
    const r = make();
    now = new Date('2026-11-27T00:30:00Z'); // 01:30 Madrid
    expect((await reconcileOnce(r, 'env', ctx())).requeueAfterMs).toBe(30 * 60_000 + 250);
    expect(history.list('Backup/env')).toEqual([]);

    now = new Date('2026-11-27T01:00:10Z'); // the 02:00 Madrid slot is due; the file does not exist yet
    await reconcileOnce(r, 'env', ctx());
    await runner.idle('Backup/env');
    expect(history.lastFinished('Backup/env')?.outputTail).toMatch(/^dump failed: 01-file-env\.gz: .*ENOENT/);

    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await reconcileOnce(r, 'env', ctx());
      const retry = retryOf();
      delays.push(Date.parse(retry?.nextAt as string) - now.getTime());
      expect(res.requeueAfterMs).toBe(Math.min((delays[i] as number) + 250, 3_600_000));
      now = new Date(Date.parse(retry?.nextAt as string));
      await reconcileOnce(r, 'env', ctx());
      await runner.idle('Backup/env');
    }
    expect(delays).toEqual([1, 2, 4, 8, 16, 32, 60, 60].map((m) => m * 60_000));
    expect(retryOf()).toMatchObject({ attempt: 9, step: 'dump' });
    expect(await registry.getSingleMetricAsString('certitrack_backup_failures_total')).toMatch(/backup="env",step="dump"\} 9/);

    // The next day's slot: the file exists now; the retry state is gone after the success.
    await mkdir(join(work, 'config'));
    await writeFile(join(work, 'config', '.env'), 'A=1\n');
    now = new Date('2026-11-28T01:00:05Z');
    await reconcileOnce(r, 'env', ctx());
    await runner.idle('Backup/env');
    expect(history.lastFinished('Backup/env')?.succeeded).toBe(true);
    await reconcileOnce(r, 'env', ctx());
    expect(retryOf()).toBeUndefined();
    expect(status.get('Backup/env')?.conditions.find((c) => c.type === 'LastBackupSucceeded')?.status).toBe('True');
    expect(await registry.getSingleMetricAsString('certitrack_backup_age_seconds')).toMatch(/backup="env"\} \d/);
  });

  it('has every series from the first reconcile, before any run; the age counts from when the Backup was declared', async () => {
    const value = async (name: string, labels: Record<string, string>): Promise<number | undefined> =>
      (await registry.getMetricsAsJSON()).find((m) => m.name === name)?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
    now = new Date('2026-11-27T00:30:00Z');
    await reconcileOnce(make(), 'env', ctx());
    expect(history.list('Backup/env')).toEqual([]);
    for (const name of ['certitrack_backup_size_bytes', 'certitrack_backup_duration_seconds', 'certitrack_backup_age_seconds', 'certitrack_job_last_success_timestamp_seconds', 'certitrack_job_last_run_timestamp_seconds']) {
      expect({ name, value: await value(name, { backup: 'env' }) }).toEqual({ name, value: 0 });
    }
    expect(await value('certitrack_backup_failures_total', { backup: 'env', step: 'upload' })).toBe(0);

    // An agent restarted an hour later (fresh metrics, same state) still counts from the declaration.
    await state.flush();
    state = await DurableState.open(join(work, 'state'));
    history = new RunHistory(state, () => now);
    registry = new Registry();
    runner = new JobRunner(history, registry, { now: () => now });
    now = new Date('2026-11-27T01:30:00Z');
    await reconcileOnce(make(), 'env', ctx());
    expect(await value('certitrack_backup_age_seconds', { backup: 'env' })).toBe(3600);
  });

  it('applies retention after each success and deletes nothing when the listing fails', async () => {
    await mkdir(join(work, 'config'));
    await writeFile(join(work, 'config', '.env'), 'A=1\n');
    const r = make();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      now = new Date(Date.UTC(2026, 10, 20 + i, 2));
      const run = await r.runNow('env', desired, jobCtx());
      expect(run.record.succeeded, run.record.outputTail).toBe(true);
      ids.push(run.outcome?.id as string);
    }
    expect((await catalog().list('env')).backups.map((b) => b.id)).toEqual([ids[2], ids[1]]);

    failListing = true;
    now = new Date(Date.UTC(2026, 10, 24, 2));
    const run = await r.runNow('env', desired, jobCtx());
    expect(run.record.succeeded).toBe(true);
    expect(run.record.outputTail).toMatch(/retention skipped, nothing deleted: injected: listing failed/);
    failListing = false;
    expect((await catalog().list('env')).backups.map((b) => b.id)).toEqual([run.outcome?.id, ids[2], ids[1]]);
    expect(await registry.getSingleMetricAsString('certitrack_backup_failures_total')).toMatch(/backup="env",step="retention"\} 1/);
  });

  it('plan says what reconcile would do, with no effects', async () => {
    const r = make();
    const controller = new Controller({ reconcilers: [r], status, state, log, metrics: new EngineMetrics(new Registry(), kindNames), now: () => now });
    controller.useSnapshot(desired);
    now = new Date('2026-11-27T00:30:00Z');
    expect(await controller.plan()).toEqual([{ kind: 'Backup', name: 'env', action: 'note', reason: 'first seen; next run at 2026-11-27T01:00:00.000Z' }]);
    await reconcileOnce(r, 'env', ctx());
    now = new Date('2026-11-27T01:00:10Z');
    const due = await controller.plan();
    expect(due).toEqual([{ kind: 'Backup', name: 'env', action: 'run', reason: 'run due at 2026-11-27T01:00:00.000Z' }]);
    expect(renderPlan(due)).toBe('  > Backup/env  run: run due at 2026-11-27T01:00:00.000Z\n\nPlan: 1 change(s).\n');
    expect(history.list('Backup/env')).toEqual([]);
    expect(await r.listOwned()).toEqual(['env']);

    // Applying does exactly that: one run, for that slot; after it, plan has only the next run to tell.
    await reconcileOnce(r, 'env', ctx());
    await runner.idle('Backup/env');
    expect(history.list('Backup/env').map((run) => [run.trigger, run.scheduledFor])).toEqual([['schedule', '2026-11-27T01:00:00.000Z']]);
    const after = await controller.plan();
    expect(after).toEqual([{ kind: 'Backup', name: 'env', action: 'note', reason: 'next run at 2026-11-28T01:00:00.000Z; retry 1 at 2026-11-27T01:01:10.000Z' }]);
    expect(renderPlan(after)).toMatch(/^No changes\. .*\n\nNotes \(nothing will be done\):\n  Backup\/env: next run at 2026-11-28T01:00:00\.000Z; retry 1 at 2026-11-27T01:01:10\.000Z\n$/);
  });

  it('a finished run enqueues its own key, through the declared watch the controller dispatches to', async () => {
    await mkdir(join(work, 'config'));
    await writeFile(join(work, 'config', '.env'), 'A=1\n');
    now = new Date('2026-11-27T00:30:00Z');
    // Wired as main.ts wires it: the runner tells the controller, which asks each kind's mapEvent.
    runner = new JobRunner(history, registry, { now: () => now, onFinished: (e) => controller.dispatch(e) });
    const r = make();
    expect(r.mapEvent({ type: 'job-finished', key: 'Backup/env', succeeded: true })).toEqual(['Backup/env']);
    expect(r.mapEvent({ type: 'job-finished', key: 'Schedule/env', succeeded: true })).toEqual([]);
    expect(r.mapEvent({ type: 'applied', key: 'Backup/env' })).toEqual([]);
    const looks: string[] = [];
    const observe = r.observe.bind(r);
    r.observe = (name, c) => {
      looks.push(name);
      return observe(name, c);
    };
    const controller = new Controller({ reconcilers: [r], status, state, log, metrics: new EngineMetrics(new Registry(), kindNames), now: () => now });
    await controller.setDesired(desired);
    await controller.whenIdle();
    expect(looks).toEqual(['env']);
    // Nothing else is due for half an hour: only the run's end can cause the second look.
    const run = await r.runNow('env', desired, jobCtx());
    expect(run.record.succeeded, run.record.outputTail).toBe(true);
    await controller.whenIdle();
    expect(looks).toEqual(['env', 'env']);
    await controller.stop();
  });
});
