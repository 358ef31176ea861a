import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_INSTANCE, LABEL_JOB, LABEL_MANAGED_BY, LABEL_SERVICE, MANAGED_BY_VALUE } from '../../src/adapters/docker-types.js';
import { dockerClients } from '../../src/adapters/docker/index.js';
import type { DesiredState } from '../../src/manifests/desired-state.js';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { ScheduleReconciler } from '../../src/reconcilers/schedule-reconciler.js';
import type { ReconcileContext } from '../../src/reconcilers/types.js';
import { JobRunner } from '../../src/schedule/job-runner.js';
import { RunHistory } from '../../src/schedule/run-history.js';
import { DurableState } from '../../src/state/durable-state.js';
import { StatusBoard } from '../../src/state/status-board.js';

const IMAGE = 'certitrack-test/busybox:latest';
const instance = `sched-it-${randomBytes(3).toString('hex')}`;
const dockerode = new Dockerode();
const docker = dockerClients(dockerode);
const secrets = new StaticSecrets({ GREETING_SECRET: 's3cr3t-value' });
const log = pino({ level: 'silent' });

let dir: string;
let desired: DesiredState;
let state: DurableState;
let history: RunHistory;
let runner: JobRunner;
let registry: Registry;
let status: StatusBoard;
let reconciler: ScheduleReconciler;
let nowMs = Date.parse('2025-06-01T09:58:00Z');
const clock = (): Date => new Date(nowMs);
const ctx = (): ReconcileContext => ({ desired, log, now: clock, status, signal: new AbortController().signal });

const MANIFESTS = `
apiVersion: certitrack.io/v1
kind: Service
metadata: { name: app }
spec: { image: ${IMAGE}, command: ["sleep", "3600"] }
---
apiVersion: certitrack.io/v1
kind: Schedule
metadata: { name: greet }
spec:
  schedule: "*/5 * * * *"
  timeZone: Europe/Madrid
  exec:
    service: app
    command: 'echo "hello from $GREETING"; echo "cwd=$(pwd)"'
    workingDir: /tmp
    env: { GREETING: { secretRef: GREETING_SECRET } }
---
apiVersion: certitrack.io/v1
kind: Schedule
metadata: { name: fails }
spec:
  schedule: "0 * * * *"
  exec: { service: app, command: 'echo "about to fail" >&2; exit 7' }
---
apiVersion: certitrack.io/v1
kind: Schedule
metadata: { name: oneoff }
spec:
  schedule: "@daily"
  timeZone: Europe/Madrid
  run:
    image: ${IMAGE}
    pullPolicy: Never
    command: 'echo "one-off $MODE"; ls /data; cat /data/note.txt'
    env: { MODE: nightly }
    volumes: ["./hostdir:/data:ro"]
---
apiVersion: certitrack.io/v1
kind: Schedule
metadata: { name: slow-exec }
spec:
  schedule: "@yearly"
  timeout: 1s
  exec: { service: app, command: 'sleep 31' }
---
apiVersion: certitrack.io/v1
kind: Service
metadata: { name: ghost }
spec: { image: ${IMAGE} }
---
apiVersion: certitrack.io/v1
kind: Schedule
metadata: { name: orphan }
spec:
  schedule: "@hourly"
  exec: { service: ghost, command: 'true' }
---
apiVersion: certitrack.io/v1
kind: Schedule
metadata: { name: slow-run }
spec:
  schedule: "@yearly"
  timeout: 1s
  run: { image: ${IMAGE}, pullPolicy: Never, command: 'echo started; trap "exit 143" TERM; sleep 32 & wait' }
`;

async function ownedContainers(extra: Record<string, string> = {}): Promise<Dockerode.ContainerInfo[]> {
  const labels = { [LABEL_MANAGED_BY]: MANAGED_BY_VALUE, [LABEL_INSTANCE]: instance, ...extra };
  return dockerode.listContainers({ all: true, filters: { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) } });
}

async function reconcileAt(iso: string, name: string) {
  nowMs = Date.parse(iso);
  return reconciler.reconcile(name, ctx());
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'schedule-it-'));
  await mkdir(join(dir, 'manifests', 'hostdir'), { recursive: true });
  await writeFile(join(dir, 'manifests', 'hostdir', 'note.txt'), 'a note from the host\n');
  await writeFile(join(dir, 'manifests', 'schedules.yaml'), MANIFESTS);
  const loaded = await loadManifests(join(dir, 'manifests'), { secrets });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  desired = loaded.state;

  state = await DurableState.open(join(dir, 'state'), { flushDelayMs: 20 });
  history = new RunHistory(state, clock);
  registry = new Registry();
  runner = new JobRunner(history, registry, { now: clock, abortGraceMs: 15_000 });
  status = new StatusBoard(state, clock);
  reconciler = new ScheduleReconciler(docker, history, runner, { instance, secrets, now: clock, log });

  // Stands in for what the Service reconciler would have created.
  const app = await dockerode.createContainer({
    name: `${instance}-app`,
    Image: IMAGE,
    Cmd: ['sleep', '3600'],
    Labels: { [LABEL_MANAGED_BY]: MANAGED_BY_VALUE, [LABEL_INSTANCE]: instance, [LABEL_SERVICE]: 'app' },
  });
  await app.start();
});

afterAll(async () => {
  await runner?.abort();
  for (const c of await ownedContainers()) await dockerode.getContainer(c.Id).remove({ force: true });
  await state?.flush();
  await rm(dir, { recursive: true, force: true });
});

describe('Schedule with exec', () => {
  it('waits for its first slot, then runs at the due time with the output tail recorded', async () => {
    const first = await reconcileAt('2025-06-01T09:58:00Z', 'greet');
    // 10:00 UTC is the next */5 slot; the requeue lands just after it.
    expect(first.requeueAfterMs).toBe(120_000 + 250);
    expect(history.list('Schedule/greet')).toHaveLength(0);
    expect(await reconciler.plan('greet', ctx())).toEqual([{ kind: 'Schedule', name: 'greet', action: 'skip', reason: 'next run at 2025-06-01T10:00:00.000Z' }]);

    nowMs = Date.parse('2025-06-01T10:00:00.300Z');
    expect((await reconciler.plan('greet', ctx()))[0]).toMatchObject({ action: 'run', reason: 'run due at 2025-06-01T10:00:00.000Z' });
    const t0 = performance.now();
    const res = await reconciler.reconcile('greet', ctx());
    const reconcileMs = performance.now() - t0;
    expect(res.requeueAfterMs).toBe(300_000 - 300 + 250);
    await runner.idle('Schedule/greet');
    const rec = history.last('Schedule/greet');
    expect(rec).toMatchObject({ trigger: 'schedule', scheduledFor: '2025-06-01T10:00:00.000Z', exitCode: 0, succeeded: true });
    // The secret reached the command but not the history.
    expect(rec?.outputTail).toBe('hello from ***\ncwd=/tmp\n');
    expect(JSON.stringify(status.get('Schedule/greet'))).not.toContain('s3cr3t-value');
    expect(status.get('Schedule/greet')?.details).toMatchObject({ nextRun: '2025-06-01T10:05:00.000Z', lastSuccess: rec?.finishedAt, running: [] });
    console.log(`reconcile returned in ${reconcileMs.toFixed(1)} ms while the job ran in the background`);

    // A second look at the same instant runs nothing more.
    await reconciler.reconcile('greet', ctx());
    await runner.idle('Schedule/greet');
    expect(history.list('Schedule/greet')).toHaveLength(1);
  });

  it('after three hours of downtime the missed run happens once', async () => {
    await reconcileAt('2025-06-01T13:02:10Z', 'greet');
    await runner.idle('Schedule/greet');
    const runs = history.list('Schedule/greet');
    expect(runs).toHaveLength(2);
    expect(runs[0]).toMatchObject({ trigger: 'missed', scheduledFor: '2025-06-01T13:00:00.000Z', succeeded: true });
    await reconcileAt('2025-06-01T13:03:00Z', 'greet');
    await runner.idle('Schedule/greet');
    expect(history.list('Schedule/greet')).toHaveLength(2);
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'certitrack_job_runs_total');
    expect(m?.values.find((v) => v.labels.schedule === 'greet' && v.labels.result === 'success')?.value).toBe(2);
  });

  it('records a failing command as a failure with its output', async () => {
    await reconcileAt('2025-06-01T13:30:00Z', 'fails');
    await reconcileAt('2025-06-01T14:00:01Z', 'fails');
    await runner.idle('Schedule/fails');
    expect(history.last('Schedule/fails')).toMatchObject({ exitCode: 7, succeeded: false, outputTail: 'about to fail\n' });
    expect(status.get('Schedule/fails')?.conditions.find((c) => c.type === 'LastRunSucceeded')).toMatchObject({ status: 'False', reason: 'Failed' });
    const failures = (await registry.getMetricsAsJSON()).find((x) => x.name === 'certitrack_job_failures_total');
    expect(failures?.values.find((v) => v.labels.schedule === 'fails')?.value).toBe(1);
  });

  it('a service without a running container fails the run, saying so', async () => {
    const rec = await reconciler.runNow('orphan', desired);
    expect(rec).toMatchObject({ succeeded: false, outputTail: 'service "ghost" has no running container' });
  });

  it('a timeout stops the process inside the service container', async () => {
    const t0 = performance.now();
    const rec = await reconciler.runNow('slow-exec', desired);
    const ms = performance.now() - t0;
    expect(rec).toMatchObject({ trigger: 'manual', succeeded: false });
    expect(rec.outputTail).toMatch(/timed out after 1s/);
    expect(ms).toBeLessThan(8000);
    const ps = await docker.containers.exec(`${instance}-app`, ['ps']);
    expect(ps.outputTail).not.toContain('sleep 31');
    console.log(`exec timeout recorded and process killed after ${ms.toFixed(0)} ms`);
  });
});

describe('Schedule with run (one-off container)', () => {
  it('runs a one-off container at the due time, keeps its output and removes it', async () => {
    await reconcileAt('2025-06-01T12:00:00Z', 'oneoff');
    // @daily in Madrid is 22:00 UTC in summer.
    expect((await reconciler.plan('oneoff', ctx()))[0]?.reason).toBe('next run at 2025-06-01T22:00:00.000Z');
    const t0 = performance.now();
    await reconcileAt('2025-06-01T22:00:05Z', 'oneoff');
    await runner.idle('Schedule/oneoff');
    const ms = performance.now() - t0;
    expect(history.last('Schedule/oneoff')).toMatchObject({
      trigger: 'schedule',
      exitCode: 0,
      succeeded: true,
      outputTail: 'one-off nightly\nnote.txt\na note from the host\n',
    });
    expect(await ownedContainers({ [LABEL_JOB]: 'Schedule/oneoff' })).toHaveLength(0);
    console.log(`one-off container run (create, start, wait, logs, remove) took ${ms.toFixed(0)} ms`);
  });

  it('runNow triggers it immediately', async () => {
    const rec = await reconciler.runNow('oneoff', desired);
    expect(rec).toMatchObject({ trigger: 'manual', succeeded: true });
    expect(rec.scheduledFor).toBeUndefined();
    expect(history.list('Schedule/oneoff')).toHaveLength(2);
    await expect(reconciler.runNow('nope', desired)).rejects.toThrow(/Schedule\/nope is not declared/);
  });

  it('a timeout stops and removes the container, keeping what it printed', async () => {
    const rec = await reconciler.runNow('slow-run', desired);
    expect(rec).toMatchObject({ succeeded: false, exitCode: 143 });
    expect(rec.outputTail).toMatch(/^started\n[\s\S]*timed out after 1s/);
    expect(await ownedContainers({ [LABEL_JOB]: 'Schedule/slow-run' })).toHaveLength(0);
  });

  it('a removed schedule loses its leftover job containers but keeps its history', async () => {
    const labels = { [LABEL_MANAGED_BY]: MANAGED_BY_VALUE, [LABEL_INSTANCE]: instance, [LABEL_JOB]: 'Schedule/gone' };
    const exited = await dockerode.createContainer({ name: `${instance}-gone-run-exited`, Image: IMAGE, Cmd: ['true'], Labels: labels });
    await exited.start();
    await exited.wait();
    // Running and young: may be another process's run-now, so it is waited for, not killed.
    const running = await dockerode.createContainer({ name: `${instance}-gone-run-young`, Image: IMAGE, Cmd: ['sleep', '3600'], Labels: labels });
    await running.start();
    history.setLastScheduled('Schedule/gone', clock());
    history.start('Schedule/gone', 'schedule');
    expect(await reconciler.listOwned()).toEqual(expect.arrayContaining(['gone', 'greet', 'oneoff']));
    expect(await reconciler.plan('gone', ctx())).toEqual([
      { kind: 'Schedule', name: 'gone', action: 'remove', reason: 'no longer declared: 2 leftover job container(s) removed, run history kept' },
    ]);
    const startedAt = Date.parse((await running.inspect()).State.StartedAt);
    nowMs = startedAt + 5_000;
    expect(await reconciler.reconcile('gone', ctx())).toEqual({ requeueAfterMs: 30_000 });
    expect((await ownedContainers({ [LABEL_JOB]: 'Schedule/gone' })).map((c) => c.Names[0])).toEqual([`/${instance}-gone-run-young`]);
    expect(status.get('Schedule/gone')?.conditions[0]).toMatchObject({ reason: 'Removing' });

    // Past the default timeout plus grace it is an orphan of a stopped agent.
    nowMs = startedAt + 3_600_000 + 61_000;
    expect(await reconciler.reconcile('gone', ctx())).toEqual({});
    expect(await ownedContainers({ [LABEL_JOB]: 'Schedule/gone' })).toHaveLength(0);
    expect(history.list('Schedule/gone')).toHaveLength(1);
    expect(status.get('Schedule/gone')).toBeUndefined();
    expect(await reconciler.listOwned()).not.toContain('gone');
  });
});
