import { describe, expect, it } from 'vitest';
import type { ContainerDetails } from '../../src/adapters/docker-types.js';
import { serviceSpec, type ServiceSpec } from '../../src/manifests/kinds/service.js';
import type { Resource } from '../../src/manifests/resource.js';
import type { SourceRef } from '../../src/manifests/source.js';
import { desiredContainer } from '../../src/reconcilers/service/container-spec.js';
import type { ServiceObservation } from '../../src/reconcilers/service/observe.js';
import { Ownership } from '../../src/reconcilers/ownership.js';
import { plan, type ServiceAction } from '../../src/reconcilers/service/plan.js';
import { NO_RESTARTS, recordRestart, restartDelay } from '../../src/reconcilers/service/restart-backoff.js';

// Plain objects in, actions out: every action the Service planner can return, with no engine.
const own = new Ownership('t');
const NOW = new Date('2026-12-01T12:00:00Z');
const opts = { own, backoff: { baseMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 }, refreshMs: 300_000 };

const svc = (spec: Record<string, unknown> = {}): Resource<ServiceSpec> => ({
  kind: 'Service',
  name: 'api',
  labels: {},
  spec: serviceSpec.parse({ image: 'app:1', pullPolicy: 'IfNotPresent', env: { MODE: 'one', TOKEN: { secretRef: 'TOKEN' } }, ...spec }),
  source: { dir: '/m', file: 'api.yaml' } as unknown as SourceRef,
});

const facts = { imageId: 'sha256:aaa', secretDigests: { TOKEN: 'd1' } };
const hashOf = (s: Resource<ServiceSpec>, f = facts): string => desiredContainer(s, own, f).hash;

const container = (s: Resource<ServiceSpec> | undefined, over: Partial<ContainerDetails> = {}, f = facts): ContainerDetails => {
  const labels = s ? (desiredContainer(s, own, f).create.Labels as Record<string, string>) : { 'io.certitrack.spec-hash': 'other' };
  return {
    id: over.id ?? 'c1',
    name: 't-api',
    labels: over.labels ?? labels,
    state: over.state ?? (over.running === false ? 'exited' : 'running'),
    running: over.running ?? true,
    exitCode: over.exitCode ?? 0,
    startedAt: over.startedAt,
    finishedAt: over.finishedAt,
    health: over.health,
    oomKilled: over.oomKilled ?? false,
    image: 'app:1',
    networks: {},
    aliases: {},
  };
};

type Declared = NonNullable<ServiceObservation['declared']>;
const observed = (containers: ContainerDetails[], over: Partial<Declared> = {}): ServiceObservation => ({
  containers,
  declared: { facts, image: { id: 'sha256:aaa' }, missingNetworks: [], missingVolumes: [], dependencies: [], restarts: NO_RESTARTS, createdHash: undefined, ...over },
});

const brief = (actions: ServiceAction[]): string[] => actions.map((a) => `${a.action}:${a.reason}`);

describe('Service plan', () => {
  const s = svc();

  it('creates a service that does not exist yet', () => {
    expect(brief(plan(s, observed([]), NOW, opts))).toEqual(['create:not created yet']);
  });

  it('does nothing when the container runs and matches, healthy or still starting', () => {
    expect(plan(s, observed([container(s)]), NOW, opts)).toEqual([]);
    expect(plan(s, observed([container(s, { health: 'healthy' })]), NOW, opts)).toEqual([]);
    expect(plan(s, observed([container(s, { health: 'starting' })]), NOW, opts)).toEqual([]);
  });

  it('recreates a changed spec in one action that names every changed field', () => {
    const old = svc({ env: { MODE: 'one', TOKEN: { secretRef: 'TOKEN' } } });
    const next = svc({ image: 'app:2', env: { MODE: 'two', TOKEN: { secretRef: 'TOKEN' } } });
    const actions = plan(next, observed([container(old, {}, { ...facts, secretDigests: { TOKEN: 'd0' } })]), NOW, opts);
    expect(brief(actions)).toEqual(['recreate:spec changed']);
    const changes = (actions[0] as Extract<ServiceAction, { action: 'recreate' }>).changes;
    expect(changes).toEqual([
      { path: 'spec.env.MODE', from: '"one"', to: '"two"' },
      { path: 'spec.env.TOKEN', secret: true },
      { path: 'spec.image', from: '"app:1"', to: '"app:2"' },
    ]);
    expect(JSON.stringify(changes)).not.toContain('d0');
  });

  it('says so when the running container predates recorded specs', () => {
    const legacy = container(undefined);
    const actions = plan(s, observed([legacy]), NOW, opts);
    expect(actions[0]).toMatchObject({ action: 'recreate', changes: [{ path: 'spec', from: '(not recorded on the running container)' }] });
  });

  it('builds an image whose context changed, then predicts the recreate', () => {
    const b = svc({ build: { context: './app' } });
    const actions = plan(b, observed([container(b)], { image: { id: 'sha256:aaa', contextHash: 'new', builtFromContext: 'old' } }), NOW, opts);
    expect(brief(actions)).toEqual(['build:build context changed', 'recreate:spec changed']);
    expect(actions[1]).toMatchObject({ predicted: true });
  });

  it('pulls a missing image first; with pullPolicy Never it waits for good (terminal)', () => {
    expect(brief(plan(s, observed([], { image: { id: undefined } }), NOW, opts))).toEqual(['pull:image not present', 'create:not created yet']);
    const never = svc({ pullPolicy: 'Never' });
    expect(plan(never, observed([], { image: { id: undefined } }), NOW, opts)).toEqual([{ action: 'wait', fatal: true, retryAfterMs: 0, reason: 'image app:1 is not present and pullPolicy is Never' }]);
  });

  it('re-pulls with pullPolicy Always only when the refresh is due', () => {
    const always = svc({ pullPolicy: 'Always' });
    const fresh = { id: 'sha256:aaa', refreshedAt: NOW.getTime() - 1000 };
    expect(plan(always, observed([container(always)], { image: fresh }), NOW, opts)).toEqual([]);
    const due = { id: 'sha256:aaa', refreshedAt: NOW.getTime() - 300_000 };
    expect(brief(plan(always, observed([container(always)], { image: due }), NOW, opts))[0]).toBe('pull:pullPolicy Always: refresh due');
  });

  it('recreates a container removed behind its back, counting it as a restart', () => {
    const actions = plan(s, observed([], { createdHash: hashOf(s) }), NOW, opts);
    expect(actions).toMatchObject([{ action: 'create', reason: 'container was removed', isRestart: true }]);
  });

  it('removes duplicates, keeping the running one', () => {
    const actions = plan(s, observed([container(s, { id: 'a', running: false }), container(s, { id: 'b' })]), NOW, opts);
    expect(actions).toEqual([{ action: 'remove', containerId: 'a', reason: 'duplicate container' }]);
  });

  it.each<[string, Partial<ContainerDetails>, Partial<Record<string, unknown>>, string[]]>([
    ['exited, Always', { running: false, exitCode: 0 }, {}, ['start:exited with code 0']],
    ['exited 0, OnFailure', { running: false, exitCode: 0 }, { restartPolicy: 'OnFailure' }, []],
    ['exited 2, OnFailure', { running: false, exitCode: 2 }, { restartPolicy: 'OnFailure' }, ['start:exited with code 2']],
    ['OOM, OnFailure', { running: false, oomKilled: true }, { restartPolicy: 'OnFailure' }, ['start:killed for lack of memory']],
    ['exited, Never', { running: false, exitCode: 1 }, { restartPolicy: 'Never' }, []],
    ['created, never started', { running: false, state: 'created' }, {}, ['start:created but never started']],
    ['unhealthy', { health: 'unhealthy' }, {}, ['restart:unhealthy']],
  ])('heals: %s', (_n, over, spec, expected) => {
    const x = svc(spec);
    expect(brief(plan(x, observed([container(x, over)]), NOW, opts))).toEqual(expected);
  });

  it('holds a restart back for the crash-loop backoff', () => {
    const restarts = { restarts: 2, lastRestartAt: NOW.getTime() - 4000, backoffMs: 10_000 };
    const actions = plan(s, observed([container(s, { running: false, exitCode: 1 })], { restarts }), NOW, opts);
    expect(actions).toEqual([{ action: 'wait', retryAfterMs: 6000, reason: 'crash-loop backoff (6s) before start: exited with code 1' }]);
  });

  it('counts a change held back by a dependency as a wait that still shows the change', () => {
    const next = svc({ env: { MODE: 'two', TOKEN: { secretRef: 'TOKEN' } } });
    const deps = [{ service: 'db', condition: 'healthy' as const, satisfied: false }];
    const actions = plan(next, observed([container(s)], { dependencies: deps }), NOW, opts);
    expect(actions).toMatchObject([{ action: 'wait', reason: 'recreate once db is healthy: spec changed', changes: [{ path: 'spec.env.MODE', from: '"one"', to: '"two"' }] }]);
    expect(brief(plan(s, observed([], { dependencies: deps }), NOW, opts))).toEqual(['wait:create once db is healthy: not created yet']);
  });

  it('does not stop a running container because a dependency is down', () => {
    expect(plan(s, observed([container(s)], { dependencies: [{ service: 'db', condition: 'started', satisfied: false }] }), NOW, opts)).toEqual([]);
  });

  it('waits for a network or volume the Network and Volume kinds have not created yet', () => {
    expect(brief(plan(s, observed([], { missingNetworks: ['net'] }), NOW, opts))).toEqual(['wait:create once network net exists: not created yet']);
    expect(brief(plan(s, observed([], { missingVolumes: ['data'] }), NOW, opts))).toEqual(['wait:create once volume data exists: not created yet']);
  });

  it('removes every container of a service no longer declared', () => {
    const actions = plan(undefined, { containers: [container(s, { id: 'a' }), container(s, { id: 'b' })] }, NOW, opts);
    expect(brief(actions)).toEqual(['remove:no longer declared', 'remove:no longer declared']);
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
