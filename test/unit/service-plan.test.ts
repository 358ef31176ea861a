import { describe, expect, it } from 'vitest';
import type { ContainerDetails } from '../../src/adapters/docker-types.js';
import { planService, type ServicePlanInput } from '../../src/reconcilers/service/plan.js';
import { NO_RESTARTS, recordRestart, restartDelay } from '../../src/reconcilers/service/restart-backoff.js';

const c = (over: Partial<ContainerDetails> & { hash?: string } = {}): ContainerDetails => ({
  id: over.id ?? 'c1',
  name: 'x-svc',
  labels: { 'io.certitrack.spec-hash': over.hash ?? 'h1' },
  state: over.state ?? (over.running === false ? 'exited' : 'running'),
  running: over.running ?? true,
  exitCode: over.exitCode ?? 0,
  startedAt: undefined,
  finishedAt: undefined,
  health: over.health,
  oomKilled: over.oomKilled ?? false,
  image: 'img',
  networks: {},
});

const input = (over: Partial<ServicePlanInput>): ServicePlanInput => ({
  desired: { hash: 'h1', restartPolicy: 'Always' },
  containers: [],
  restartDelayMs: 0,
  previouslyCreated: false,
  ...over,
});

const types = (i: ServicePlanInput) => planService(i).map((a) => `${a.type}:${a.reason}`);

describe('planService', () => {
  it.each<[string, Partial<ServicePlanInput>, string[]]>([
    ['nothing yet', {}, ['create:not created yet']],
    ['running and matching', { containers: [c()] }, []],
    ['healthy', { containers: [c({ health: 'healthy' })] }, []],
    ['starting health is left alone', { containers: [c({ health: 'starting' })] }, []],
    ['spec changed', { containers: [c({ hash: 'old' })] }, ['remove:spec changed', 'create:spec changed']],
    ['removed behind our back', { previouslyCreated: true }, ['create:container was removed']],
    ['duplicates keep the running one', { containers: [c({ id: 'a', running: false }), c({ id: 'b' })] }, ['remove:duplicate container']],
    ['exited, Always', { containers: [c({ running: false, exitCode: 0 })] }, ['start:exited with code 0']],
    ['exited 0, OnFailure', { desired: { hash: 'h1', restartPolicy: 'OnFailure' }, containers: [c({ running: false, exitCode: 0 })] }, []],
    ['exited 2, OnFailure', { desired: { hash: 'h1', restartPolicy: 'OnFailure' }, containers: [c({ running: false, exitCode: 2 })] }, ['start:exited with code 2']],
    ['OOM, OnFailure', { desired: { hash: 'h1', restartPolicy: 'OnFailure' }, containers: [c({ running: false, exitCode: 0, oomKilled: true })] }, ['start:killed for lack of memory']],
    ['exited, Never', { desired: { hash: 'h1', restartPolicy: 'Never' }, containers: [c({ running: false, exitCode: 1 })] }, []],
    ['created, never started', { containers: [c({ running: false, state: 'created' })] }, ['start:created but never started']],
    ['unhealthy', { containers: [c({ health: 'unhealthy' })] }, ['restart:unhealthy']],
    ['unhealthy in backoff', { containers: [c({ health: 'unhealthy' })], restartDelayMs: 4000 }, ['wait:crash-loop backoff (4s)']],
    ['crash in backoff', { containers: [c({ running: false, exitCode: 1 })], restartDelayMs: 1500 }, ['wait:crash-loop backoff (2s)']],
    ['dependency not ready blocks create', { waitingFor: 'db to be healthy' }, ['wait:waiting for db to be healthy']],
    ['dependency not ready blocks restart too', { containers: [c({ running: false })], waitingFor: 'db to be started' }, ['wait:waiting for db to be started']],
    ['dependency not ready does not stop a running container', { containers: [c()], waitingFor: 'db to be healthy' }, []],
    ['no longer declared', { desired: undefined, containers: [c({ id: 'a' }), c({ id: 'b', hash: 'x' })] }, ['remove:no longer declared', 'remove:no longer declared']],
  ])('%s', (_name, over, expected) => {
    expect(types(input(over))).toEqual(expected);
  });
});

describe('crash-loop backoff', () => {
  const policy = { baseMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 };
  it('restarts at once the first time, then 10 s doubling to 5 min', () => {
    let rec = NO_RESTARTS;
    let now = 1_000_000;
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const d = restartDelay(rec, 1000, now, policy);
      delays.push(d);
      now += d;
      rec = recordRestart(rec, 1000, now, policy);
    }
    expect(delays).toEqual([0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
    expect(rec.restarts).toBe(8);
  });

  it('starts over after a container ran for 10 minutes', () => {
    const rec = { restarts: 5, lastRestartAt: 0, backoffMs: 160_000 };
    expect(restartDelay(rec, 600_000, 650_000, policy)).toBe(0);
    expect(recordRestart(rec, 600_000, 650_000, policy).backoffMs).toBe(10_000);
  });
});
