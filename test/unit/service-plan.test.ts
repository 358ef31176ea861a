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
    name: over.name ?? 't-api',
    labels: over.labels ?? labels,
    state: over.state ?? (over.running === false ? 'exited' : 'running'),
    running: over.running ?? true,
    exitCode: over.exitCode ?? 0,
    startedAt: over.startedAt,
    finishedAt: over.finishedAt,
    health: over.health,
    ...(over.healthOutput ? { healthOutput: over.healthOutput } : {}),
    oomKilled: over.oomKilled ?? false,
    imageId: over.imageId ?? 'sha256:img',
    mounts: over.mounts ?? [],
    image: 'app:1',
    networks: {},
    aliases: {},
    links: {},
  };
};

type Declared = NonNullable<ServiceObservation['declared']>;
const observed = (containers: ContainerDetails[], over: Partial<Declared> = {}): ServiceObservation => ({
  containers,
  declared: { facts, image: { id: 'sha256:aaa' }, missingNetworks: [], missingVolumes: [], dependencies: [], restarts: NO_RESTARTS, createdHash: undefined, rollout: undefined, mounted: {}, mountedGiven: undefined, ...over },
  followers: [],
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

  it('recreates a changed spec in one action that names every changed field (StopFirst)', () => {
    const stopFirst = { rollout: { strategy: 'StopFirst' } };
    const old = svc({ ...stopFirst, env: { MODE: 'one', TOKEN: { secretRef: 'TOKEN' } } });
    const next = svc({ ...stopFirst, image: 'app:2', env: { MODE: 'two', TOKEN: { secretRef: 'TOKEN' } } });
    const actions = plan(next, observed([container(old, {}, { ...facts, secretDigests: { TOKEN: 'd0' } })]), NOW, opts);
    expect(brief(actions)).toEqual(['recreate:spec changed']);
    expect(actions[0]).toMatchObject({ type: 'replace', replace: ['c1'], fromHash: hashOf(old, { ...facts, secretDigests: { TOKEN: 'd0' } }) });
    const changes = (actions[0] as Extract<ServiceAction, { type: 'replace' }>).changes;
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
    expect(actions[0]).toMatchObject({ type: 'start-new', action: 'recreate', changes: [{ path: 'spec', from: '(not recorded on the running container)' }] });
  });

  it('builds an image whose context changed, then predicts the recreate', () => {
    const b = svc({ build: { context: './app' } });
    const actions = plan(b, observed([container(b)], { image: { id: 'sha256:aaa', contextHash: 'new', builtFromContext: 'old' } }), NOW, opts);
    expect(brief(actions)).toEqual(['build:build context changed', 'recreate:the image changes']);
    expect(actions[1]).toMatchObject({ predicted: true });
  });

  it('pulls a missing image first; with pullPolicy Never it waits for good (terminal)', () => {
    expect(brief(plan(s, observed([], { image: { id: undefined } }), NOW, opts))).toEqual(['pull:image not present', 'create:not created yet (after the image is ready)']);
    const never = svc({ pullPolicy: 'Never' });
    expect(plan(never, observed([], { image: { id: undefined } }), NOW, opts)).toEqual([{ type: 'wait', action: 'wait', fatal: true, retryAfterMs: 0, reason: 'image app:1 is not present and pullPolicy is Never' }]);
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
    expect(actions).toEqual([{ type: 'remove', action: 'remove', containerId: 'a', reason: 'duplicate container' }]);
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
    expect(actions).toEqual([{ type: 'wait', action: 'wait', retryAfterMs: 6000, reason: 'crash-loop backoff (6s) before start: exited with code 1' }]);
  });

  it('counts a change held back by a dependency as a wait that still shows the change', () => {
    const next = svc({ env: { MODE: 'two', TOKEN: { secretRef: 'TOKEN' } } });
    const deps = [{ service: 'db', condition: 'healthy' as const, satisfied: false }];
    const actions = plan(next, observed([container(s)], { dependencies: deps }), NOW, opts);
    expect(actions).toMatchObject([
      { action: 'wait', reason: 'recreate once db is healthy: spec changed: starting the new version beside the old one', changes: [{ path: 'spec.env.MODE', from: '"one"', to: '"two"' }] },
    ]);
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
    const actions = plan(undefined, { containers: [container(s, { id: 'a' }), container(s, { id: 'b' })], followers: [] }, NOW, opts);
    expect(brief(actions)).toEqual(['remove:no longer declared', 'remove:no longer declared']);
  });
});

describe('Service plan: rollouts', () => {
  const old = svc({ env: { MODE: 'one', TOKEN: { secretRef: 'TOKEN' } } });
  const next = svc({ env: { MODE: 'two', TOKEN: { secretRef: 'TOKEN' } }, healthcheck: { command: ['true'] }, rollout: { progressDeadline: '1m', drain: '3s' } });
  const oldC = container(old, { id: 'old', name: 't-api' });
  const versioned = `t-api-${hashOf(next).slice(0, 8)}`;
  const nextC = (over: Partial<ContainerDetails> = {}) => container(next, { id: 'new', name: versioned, startedAt: new Date(NOW.getTime() - 10_000), ...over });
  const rollout = (over: Record<string, unknown> = {}) => ({ toHash: hashOf(next), strategy: 'StartFirst' as const, startedAt: new Date(NOW.getTime() - 10_000).toISOString(), failures: 0, ...over });
  const followers = [{ service: 'nginx', reload: ['nginx', '-s', 'reload'] }];

  it('StartFirst is the default without host ports or read-write volumes: the new version starts beside the old one', () => {
    const actions = plan(next, observed([oldC]), NOW, opts);
    expect(actions).toMatchObject([{ type: 'start-new', action: 'recreate', fromHash: hashOf(old) }]);
    expect((actions[0] as Extract<ServiceAction, { type: 'start-new' }>).container.create.name).toBe(versioned);
  });

  it('a host port or a read-write named volume makes StopFirst the default', () => {
    const withPort = (x: Record<string, unknown>) => svc({ ports: ['127.0.0.1:8080:80'], ...x });
    expect(plan(withPort({ env: { MODE: 'two' } }), observed([container(withPort({}))]), NOW, opts)[0]).toMatchObject({ type: 'replace' });
    const withVolume = (x: Record<string, unknown>) => svc({ volumes: ['data:/data'], ...x });
    expect(plan(withVolume({ env: { MODE: 'two' } }), observed([container(withVolume({}))]), NOW, opts)[0]).toMatchObject({ type: 'replace' });
  });

  it('waits while the new version starts, within its progress deadline', () => {
    const actions = plan(next, observed([oldC, nextC({ health: 'starting' })], { rollout: rollout() }), NOW, opts);
    expect(actions).toMatchObject([{ type: 'wait', reason: 'the new version is starting (starting); cut over once it is ready' }]);
  });

  it('cuts over once the new version is ready: the name moves to it, followers reload, the old one drains', () => {
    const actions = plan(next, { ...observed([oldC, nextC({ health: 'healthy' })], { rollout: rollout() }), followers }, NOW, opts);
    const renames = [
      { containerId: 'old', name: `t-api-${hashOf(old).slice(0, 8)}` },
      { containerId: 'new', name: 't-api' },
    ];
    expect(actions).toEqual([
      { type: 'cutover', action: 'recreate', newId: 'new', toHash: hashOf(next), oldIds: ['old'], renames, drainMs: 3000, followers, reason: 'the new version is ready: it takes the name, followers switch to it, the old one drains and stops' },
    ]);
    // The old one's versioned name taken already (a leftover): its id makes it unique.
    const squatter = container(old, { id: 'leftover', name: `t-api-${hashOf(old).slice(0, 8)}`, running: false, state: 'exited' });
    const taken = plan(next, { ...observed([oldC, squatter, nextC({ health: 'healthy' })], { rollout: rollout() }), followers }, NOW, opts);
    expect(taken).toMatchObject([{ type: 'cutover', renames: [{ containerId: 'old', name: `t-api-${hashOf(old).slice(0, 8)}-old` }, { containerId: 'new', name: 't-api' }] }]);
  });

  it('after the switch waits out the drain between reconciles, then stops the old version', () => {
    const oldDraining = container(old, { id: 'old', name: `t-api-${hashOf(old).slice(0, 8)}` });
    const serving = (over: Partial<ContainerDetails> = {}) => nextC({ name: 't-api', health: 'healthy', ...over });
    const draining = rollout({ drainUntil: new Date(NOW.getTime() + 2000).toISOString() });
    const during = plan(next, { ...observed([oldDraining, serving()], { rollout: draining }), followers }, NOW, opts);
    expect(during).toEqual([{ type: 'wait', action: 'wait', retryAfterMs: 2000, reason: `the new version serves; the old one drains until ${new Date(NOW.getTime() + 2000).toISOString()}` }]);
    // Its health no longer matters to the switch: it is healed once the old one is gone.
    expect(plan(next, { ...observed([oldDraining, serving({ health: 'unhealthy' })], { rollout: draining }), followers }, NOW, opts)).toMatchObject([{ type: 'wait' }]);
    const over = rollout({ drainUntil: new Date(NOW.getTime() - 1).toISOString() });
    expect(plan(next, { ...observed([oldDraining, serving()], { rollout: over }), followers }, NOW, opts)).toEqual([
      { type: 'finish-cutover', action: 'recreate', newId: 'new', oldIds: ['old'], renames: [], followers, reason: 'the drain is over: the old version stops' },
    ]);
    // A new version that dies while the old one drains is rolled back: the old one takes the name back.
    expect(plan(next, observed([oldDraining, serving({ running: false, state: 'exited', exitCode: 1 })], { rollout: draining }), NOW, opts)).toEqual([
      {
        type: 'rollback',
        action: 'remove',
        containerId: 'new',
        failure: 'the new container exited with code 1',
        renames: [{ containerId: 'old', name: 't-api' }],
        reason: 'rollout failed: the new container exited with code 1 while the old version drained; it takes the name back and keeps serving',
      },
    ]);
    // A switch cut short after the renames (no drain on record yet) is finished: followers are told, then the drain.
    expect(plan(next, { ...observed([oldDraining, serving()], { rollout: rollout() }), followers }, NOW, opts)).toMatchObject([{ type: 'cutover', newId: 'new', oldIds: ['old'], renames: [] }]);
  });

  it('a drain recorded before the name moved at the switch still ends with the new one taking the name', () => {
    const over = rollout({ drainUntil: new Date(NOW.getTime() - 1).toISOString() });
    expect(plan(next, { ...observed([oldC, nextC({ health: 'healthy' })], { rollout: over }), followers }, NOW, opts)).toEqual([
      { type: 'finish-cutover', action: 'recreate', newId: 'new', oldIds: ['old'], renames: [{ containerId: 'new', name: 't-api' }], followers, reason: 'the drain is over: the old version stops and the new one takes the name' },
    ]);
  });

  it('a newer spec arriving while a rollout drains starts at once beside both, and its switch drains them both', () => {
    const third = svc({ env: { MODE: 'three', TOKEN: { secretRef: 'TOKEN' } }, healthcheck: { command: ['true'] }, rollout: { progressDeadline: '1m', drain: '3s' } });
    const draining = rollout({ drainUntil: new Date(NOW.getTime() + 2000).toISOString() });
    const oldDraining = container(old, { id: 'old', name: `t-api-${hashOf(old).slice(0, 8)}` });
    const serving = nextC({ name: 't-api', health: 'healthy' });
    const started = plan(third, observed([oldDraining, serving], { rollout: draining }), NOW, opts);
    expect(started).toMatchObject([{ type: 'start-new', fromHash: hashOf(next) }]);
    const thirdC = container(third, { id: 'third', name: `t-api-${hashOf(third).slice(0, 8)}`, health: 'healthy', startedAt: new Date(NOW.getTime() - 5000) });
    const r3 = { toHash: hashOf(third), strategy: 'StartFirst' as const, startedAt: new Date(NOW.getTime() - 5000).toISOString(), failures: 0 };
    expect(plan(third, observed([oldDraining, serving, thirdC], { rollout: r3 }), NOW, opts)).toMatchObject([
      { type: 'cutover', newId: 'third', oldIds: ['old', 'new'], renames: [{ containerId: 'new', name: versioned }, { containerId: 'third', name: 't-api' }] },
    ]);
  });

  it('a new version without a healthcheck is ready after it has run for the settle time', () => {
    const plain = svc({ env: { MODE: 'two', TOKEN: { secretRef: 'TOKEN' } } });
    const young = container(plain, { id: 'new', name: `t-api-${hashOf(plain).slice(0, 8)}`, startedAt: new Date(NOW.getTime() - 500) });
    expect(plan(plain, observed([oldC, young]), NOW, opts)[0]).toMatchObject({ type: 'wait' });
    const settled = { ...young, startedAt: new Date(NOW.getTime() - 2500) };
    expect(plan(plain, observed([oldC, settled]), NOW, opts)[0]).toMatchObject({ type: 'cutover' });
  });

  it('starts a new version that was created but never started (an apply killed in between)', () => {
    const actions = plan(next, observed([oldC, nextC({ running: false, state: 'created', startedAt: undefined })]), NOW, opts);
    expect(actions).toEqual([{ type: 'start', action: 'start', containerId: 'new', reason: 'the new version was created but never started', isRestart: false }]);
  });

  it('rolls back a new version that exits, or is not ready at the deadline, naming why', () => {
    const exited = plan(next, observed([oldC, nextC({ running: false, state: 'exited', exitCode: 3 })], { rollout: rollout() }), NOW, opts);
    expect(exited).toEqual([{ type: 'rollback', action: 'remove', containerId: 'new', failure: 'the new container exited with code 3', reason: 'rollout failed: the new container exited with code 3; the old version keeps serving' }]);
    // A switch cut short between its renames: the old one takes the name back.
    const nameless = container(old, { id: 'old', name: `t-api-${hashOf(old).slice(0, 8)}` });
    expect(plan(next, observed([nameless, nextC({ running: false, state: 'exited', exitCode: 3 })], { rollout: rollout() }), NOW, opts)).toMatchObject([{ type: 'rollback', renames: [{ containerId: 'old', name: 't-api' }] }]);
    const late = plan(next, observed([oldC, nextC({ health: 'unhealthy', healthOutput: 'exit 1: boom' })], { rollout: rollout({ startedAt: new Date(NOW.getTime() - 61_000).toISOString() }) }), NOW, opts);
    expect(late).toMatchObject([{ type: 'rollback', failure: 'not ready within the progress deadline of 60s (last healthcheck: exit 1: boom)' }]);
  });

  it('after a failed rollout keeps the old version serving and healed, and tries again only after the backoff', () => {
    const failed = rollout({ failures: 1, retryAt: new Date(NOW.getTime() + 30_000).toISOString(), lastError: 'boom' });
    const actions = plan(next, observed([container(old, { id: 'old', name: 't-api', running: false, exitCode: 1 })], { rollout: failed }), NOW, opts);
    expect(brief(actions)).toEqual([`wait:rollout failed 1 time(s) (boom); next attempt at ${new Date(NOW.getTime() + 30_000).toISOString()}`, 'start:exited with code 1']);
    const due = rollout({ failures: 1, retryAt: new Date(NOW.getTime() - 1).toISOString() });
    expect(plan(next, observed([oldC], { rollout: due }), NOW, opts)[0]).toMatchObject({ type: 'start-new' });
  });

  it('finishes a cutover interrupted after the old container went: the new one takes the name', () => {
    const actions = plan(next, observed([nextC({ health: 'healthy' })]), NOW, opts);
    expect(actions).toEqual([{ type: 'rename', action: 'update', containerId: 'new', name: 't-api', reason: 'finish the rollout: the new container takes the name t-api' }]);
  });

  it('records the end of a rollout with nothing old to fall back on: success when ready, failure at the deadline', () => {
    const stopFirst = svc({ healthcheck: { command: ['true'] }, rollout: { strategy: 'StopFirst', progressDeadline: '1m' } });
    const r = { toHash: hashOf(stopFirst), strategy: 'StopFirst' as const, startedAt: new Date(NOW.getTime() - 5000).toISOString(), failures: 0 };
    expect(plan(stopFirst, observed([container(stopFirst, { health: 'healthy' })], { rollout: r }), NOW, opts)).toMatchObject([{ type: 'finish-rollout', result: 'succeeded' }]);
    expect(plan(stopFirst, observed([container(stopFirst, { health: 'starting' })], { rollout: r }), NOW, opts)).toEqual([]);
    const late = { ...r, startedAt: new Date(NOW.getTime() - 61_000).toISOString() };
    expect(plan(stopFirst, observed([container(stopFirst, { health: 'unhealthy' })], { rollout: late }), NOW, opts)).toMatchObject([{ type: 'finish-rollout', action: 'note', result: 'failed' }, { type: 'restart' }]);
    // Recorded once: after that the container is healed as usual.
    expect(plan(stopFirst, observed([container(stopFirst, { health: 'unhealthy' })], { rollout: { ...late, failedAt: NOW.toISOString() } }), NOW, opts)).toMatchObject([{ type: 'restart' }]);
  });
});

describe('Service plan: bind-mounted files from the manifests folder', () => {
  const withConf = (extra: Record<string, unknown> = {}) => svc({ volumes: ['./nginx.conf:/etc/nginx/nginx.conf:ro'], ...extra });
  const reloading = withConf({ reload: { exec: ['nginx', '-s', 'reload'] } });
  const given = { './nginx.conf': { digest: 'aaa', inode: 7 } };

  it('reloads in place when the content changed and the service declares a reload', () => {
    const f = { ...facts, mountedInodes: { './nginx.conf': 7 } };
    const actions = plan(reloading, observed([container(reloading, {}, f)], { facts: f, mounted: { './nginx.conf': { digest: 'bbb', inode: 7 } }, mountedGiven: given }), NOW, opts);
    expect(actions).toEqual([
      { type: 'reload', action: 'reload', containerId: 'c1', command: ['nginx', '-s', 'reload'], reason: './nginx.conf changed: reloading in place', changes: [{ path: 'spec.volumes (content of ./nginx.conf)', from: '"aaa"', to: '"bbb"' }] },
    ]);
  });

  it('needs a new container when the file was replaced (a new inode the running container cannot see)', () => {
    const before = { ...facts, mountedInodes: { './nginx.conf': 7 } };
    const after = { ...facts, mountedInodes: { './nginx.conf': 9 } };
    const actions = plan(reloading, observed([container(reloading, {}, before)], { facts: after, mounted: { './nginx.conf': { digest: 'bbb', inode: 9 } }, mountedGiven: given }), NOW, opts);
    expect(actions).toMatchObject([{ action: 'recreate', changes: [{ path: 'spec.volumes[./nginx.conf] (file replaced on disk)', from: '7', to: '9' }] }]);
  });

  it('makes a content change a change of the spec when no reload is declared', () => {
    const before = { ...facts, mountedContent: { './nginx.conf': 'aaa' } };
    const after = { ...facts, mountedContent: { './nginx.conf': 'bbb' } };
    const s = withConf();
    const actions = plan(s, observed([container(s, {}, before)], { facts: after }), NOW, opts);
    expect(actions).toMatchObject([{ action: 'recreate', changes: [{ path: 'spec.volumes[./nginx.conf] (content)', from: '"aaa"', to: '"bbb"' }] }]);
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

  it('carries on doubling from a record written before the streak was kept', () => {
    expect(recordRestart({ restarts: 3, lastRestartAt: 0, backoffMs: 40_000 }, 1000, 1_000_000, policy)).toMatchObject({ backoffMs: 80_000, streak: 4 });
  });

  it('starts over after a container ran for 10 minutes', () => {
    const rec = { restarts: 5, lastRestartAt: 0, backoffMs: 160_000 };
    expect(restartDelay(rec, 600_000, 650_000, policy)).toBe(0);
    expect(recordRestart(rec, 600_000, 650_000, policy).backoffMs).toBe(10_000);
  });
});
