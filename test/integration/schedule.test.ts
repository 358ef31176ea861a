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
import type { KindAction } from '../../src/engine/reconcile.js';
import { ScheduleReconciler } from '../../src/reconcilers/schedule/schedule-reconciler.js';
import { JobRunner } from '../../src/schedule/job-runner.js';
import { RunHistory } from '../../src/schedule/run-history.js';
import { DurableState } from '../../src/state/durable-state.js';
import { StatusBoard } from '../../src/state/status-board.js';
import { planOf, reconcileOnce, type StepContext } from '../helpers/reconcile.js';

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
const ctx = (): StepContext => ({ desired, now: clock, status });
const jobCtx = () => ({ status, log });
/** What `certitrack-agent plan` prints of each action. */
const shown = (actions: readonly KindAction[]) => actions.map((a) => ({ action: a.action, reason: a.reason }));
const planned = async (name: string) => shown(await planOf(reconciler, name, ctx()));

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
  return reconcileOnce(reconciler, name, ctx());
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
  reconciler = new ScheduleReconciler(docker, history, runner, { instance, secrets });

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
    expect(await planned('greet')).toEqual([{ action: 'note', reason: 'next run at 2025-06-01T10:00:00.000Z' }]);

    nowMs = Date.parse('2025-06-01T10:00:00.300Z');
    expect(await planned('greet')).toEqual([{ action: 'run', reason: 'run due at 2025-06-01T10:00:00.000Z' }]);
    const res = await reconcileOnce(reconciler, 'greet', ctx());
    // The reconcile returned while the job was still running: it runs in the background.
    expect(runner.isRunning('Schedule/greet')).toBe(true);
    expect(res.requeueAfterMs).toBe(300_000 - 300 + 250);
    await runner.idle('Schedule/greet');
    const rec = history.last('Schedule/greet');
    expect(rec).toMatchObject({ trigger: 'schedule', scheduledFor: '2025-06-01T10:00:00.000Z', exitCode: 0, succeeded: true });
    // The secret reached the command but not the history.
    expect(rec?.outputTail).toBe('hello from ***\ncwd=/tmp\n');
    expect(JSON.stringify(status.get('Schedule/greet'))).not.toContain('s3cr3t-value');
    expect(status.get('Schedule/greet')?.details).toMatchObject({ nextRun: '2025-06-01T10:05:00.000Z', lastSuccess: rec?.finishedAt, running: [] });

    // A second look at the same instant runs nothing more.
    await reconcileOnce(reconciler, 'greet', ctx());
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
    const rec = await reconciler.runNow('orphan', desired, jobCtx());
    expect(rec).toMatchObject({ succeeded: false, outputTail: 'service "ghost" has no running container' });
  });

  it('a timeout stops the process inside the service container', async () => {
    const rec = await reconciler.runNow('slow-exec', desired, jobCtx());
    expect(rec).toMatchObject({ trigger: 'manual', succeeded: false });
    expect(rec.outputTail).toMatch(/timed out after 1s/);
    // The job itself ended on the abort: the runner did not have to give up on it after its grace period.
    expect(rec.outputTail).not.toMatch(/did not stop within/);
    const ps = await docker.containers.exec(`${instance}-app`, ['ps']);
    expect(ps.outputTail).not.toContain('sleep 31');
  });
});

describe('Schedule with run (one-off container)', () => {
  it('runs a one-off container at the due time, keeps its output and removes it', async () => {
    await reconcileAt('2025-06-01T12:00:00Z', 'oneoff');
    // @daily in Madrid is 22:00 UTC in summer.
    expect(await planned('oneoff')).toEqual([{ action: 'note', reason: 'next run at 2025-06-01T22:00:00.000Z' }]);
    await reconcileAt('2025-06-01T22:00:05Z', 'oneoff');
    await runner.idle('Schedule/oneoff');
    expect(history.last('Schedule/oneoff')).toMatchObject({
      trigger: 'schedule',
      exitCode: 0,
      succeeded: true,
      outputTail: 'one-off nightly\nnote.txt\na note from the host\n',
    });
    expect(await ownedContainers({ [LABEL_JOB]: 'Schedule/oneoff' })).toHaveLength(0);
  });

  it('runNow triggers it immediately', async () => {
    const rec = await reconciler.runNow('oneoff', desired, jobCtx());
    expect(rec).toMatchObject({ trigger: 'manual', succeeded: true });
    expect(rec.scheduledFor).toBeUndefined();
    expect(history.list('Schedule/oneoff')).toHaveLength(2);
    await expect(reconciler.runNow('nope', desired, jobCtx())).rejects.toThrow(/Schedule\/nope is not declared/);
  });

  it('a timeout stops and removes the container, keeping what it printed', async () => {
    const rec = await reconciler.runNow('slow-run', desired, jobCtx());
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
    const startedAt = Date.parse((await running.inspect()).State.StartedAt);
    nowMs = startedAt + 5_000;
    // The exited one goes now; the young running one is waited for.
    expect(await planned('gone')).toEqual([{ action: 'wait', reason: 'no longer declared; waiting for the run in progress to finish; 1 leftover job container(s) removed' }]);
    expect(await reconcileOnce(reconciler, 'gone', ctx())).toEqual({ requeueAfterMs: 30_000 });
    expect((await ownedContainers({ [LABEL_JOB]: 'Schedule/gone' })).map((c) => c.Names[0])).toEqual([`/${instance}-gone-run-young`]);
    expect(status.get('Schedule/gone')?.conditions[0]).toMatchObject({ reason: 'Removing' });

    // Past the default timeout plus grace it is an orphan of a stopped agent.
    nowMs = startedAt + 3_600_000 + 61_000;
    expect(await planned('gone')).toEqual([{ action: 'remove', reason: 'no longer declared: 1 leftover job container(s) removed, run history kept' }]);
    expect(await reconcileOnce(reconciler, 'gone', ctx())).toEqual({});
    expect(await ownedContainers({ [LABEL_JOB]: 'Schedule/gone' })).toHaveLength(0);
    expect(history.list('Schedule/gone')).toHaveLength(1);
    expect(status.get('Schedule/gone')).toBeUndefined();
    expect(await reconciler.listOwned()).not.toContain('gone');
  });
});
