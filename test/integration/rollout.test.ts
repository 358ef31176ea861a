import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent.js';
import { runCli } from '../helpers/cli.js';
import { adapter, BUSYBOX, cleanupInstance, containersOf, eventually, inspect, type LogCapture, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';
import { freePort, httpGet } from '../helpers/http-probe.js';
import { doc, writeManifest } from '../helpers/manifests.js';

// Deploys nobody notices: a request loop through the real nginx image during StartFirst rollouts
// of the service behind it sees no failed request; a version that never becomes healthy is rolled
// back while the old one keeps serving, and is not retried in a loop.
const NGINX = 'certitrack-test/nginx:latest';
const instance = testInstance('rollout');
let dir: string;
let stateDir: string;
let agent: Agent;
let logs: LogCapture;
let port: number;


function backend(version: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    image: BUSYBOX,
    pullPolicy: 'Never',
    // A version that is "bad" never passes its healthcheck.
    command: 'mkdir -p /www && echo "$VERSION" > /www/index.html && exec httpd -f -p 8080 -h /www',
    env: { VERSION: version },
    networks: ['net'],
    // Docker's init forwards SIGTERM: httpd as PID 1 would ignore it and wait for the kill.
    init: true,
    healthcheck: { command: 'test "$VERSION" != bad && wget -q -O /dev/null http://127.0.0.1:8080/', interval: '300ms', timeout: '2s', retries: 2 },
    rollout: { drain: '1s', progressDeadline: '4s' },
    stopGracePeriod: '2s',
    ...extra,
  };
}

async function writeStack(version: string, extra: Record<string, unknown> = {}): Promise<void> {
  await writeManifest(dir, 'stack.yaml', [
    doc('Network', 'net'),
    doc('Service', 'backend', backend(version, extra)),
    doc('Service', 'nginx', {
      image: NGINX,
      pullPolicy: 'Never',
      ports: [`127.0.0.1:${port}:80`],
      volumes: ['./nginx.conf:/etc/nginx/nginx.conf:ro'],
      networks: ['net'],
      dependsOn: [{ service: 'backend', condition: 'healthy' }],
      reload: { exec: ['nginx', '-s', 'reload'] },
      healthcheck: { command: ['bash', '-c', "exec 3<>/dev/tcp/127.0.0.1/80 && printf 'GET /nginx-health HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '200 OK' <&3"], interval: '500ms' },
      stopGracePeriod: '1s',
    }),
  ]);
}

const get = () => httpGet(port);

/** Requests every 10 ms until stopped: how many failed, and which versions answered. */
function requestLoop() {
  let running = true;
  const failures: string[] = [];
  const seen = new Set<string>();
  let count = 0;
  const done = (async () => {
    while (running) {
      try {
        const r = await get();
        count++;
        if (r.status === 200) seen.add(r.body);
        else failures.push(`HTTP ${r.status}: ${r.body.slice(0, 80)}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    failures,
    seen,
    count: () => count,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

const backendContainers = () => containersOf(instance, 'backend');
const condition = (type: string) => agent.statusDocument().resources as { kind: string; name: string; conditions: { type: string; status: string; reason: string; message: string }[] }[];
const progressing = () => condition('Progressing').find((r) => r.kind === 'Service' && r.name === 'backend')?.conditions.find((c) => c.type === 'Progressing');

beforeAll(async () => {
  dir = await tempDir('rollout');
  stateDir = await tempDir('rollout-state');
  port = await freePort();
  await copyFile(join(import.meta.dirname, '..', 'fixtures', 'nginx-rollout.conf'), join(dir, 'nginx.conf'));
  await writeStack('v1');
  const t = await startTestAgent(dir, instance, { stateDir });
  agent = t.agent;
  logs = t.logs;
  await agent.run();
  await eventually('v1 served through nginx', async () => (await get().catch(() => undefined))?.body === 'v1', 60_000);
});

afterAll(async () => {
  await agent?.stop();
  await cleanupInstance(instance);
  await removeDir(dir);
  await removeDir(stateDir);
});

describe('StartFirst rollouts behind nginx', () => {
  it('serves every request through three deploys, each ending with one container under the service name', async () => {
    const loop = requestLoop();
    try {
      for (const version of ['v2', 'v3', 'v4']) {
        await writeStack(version);
        await eventually(`${version} served`, async () => loop.seen.has(version) && (await get()).body === version, 60_000);
        await eventually(`${version}: rolled out, the old container gone`, async () => {
          const list = await backendContainers();
          return progressing()?.reason === 'RolloutComplete' && list.length === 1 && list[0]?.Names[0] === `/${instance}-backend`;
        }, 60_000);
      }
    } finally {
      await loop.stop();
    }
    expect(loop.failures).toEqual([]);
    expect(loop.count()).toBeGreaterThan(50);
    expect(progressing()).toMatchObject({ status: 'True', reason: 'RolloutComplete' });
    // The follower was told: nginx reloaded twice per rollout.
    expect(logs.lines.filter((l) => l.includes('follower reloaded')).length).toBeGreaterThanOrEqual(6);
    const history = (agent.statusDocument().resources as { kind: string; name: string; details: { rollouts?: { result: string; strategy: string }[] } }[]).find((r) => r.name === 'backend')?.details.rollouts ?? [];
    expect(history.slice(0, 3).map((h) => [h.strategy, h.result])).toEqual([
      ['StartFirst', 'succeeded'],
      ['StartFirst', 'succeeded'],
      ['StartFirst', 'succeeded'],
    ]);
  });

  it('restart (the CLI) replaces the serving container by the same StartFirst rollout, with no failed request', async () => {
    const before = (await backendContainers()).map((c) => c.Id);
    const serving = (await get()).body;
    const loop = requestLoop();
    let r;
    try {
      r = await runCli(['restart', 'backend', '--state-dir', stateDir]);
    } finally {
      await loop.stop();
    }
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Service\/backend restarted \(StartFirst, /);
    expect(loop.failures).toEqual([]);
    expect([...loop.seen]).toEqual([serving]);
    const after = await backendContainers();
    expect(after).toHaveLength(1);
    expect(before).not.toContain(after[0]?.Id);
  });

  it('while the old version drains, nginx sends it nothing: the service name resolves to the new container alone', async () => {
    const drains = () => logs.lines.filter((l) => l.includes('draining the old one')).length;
    const before = drains();
    await writeStack('v4d', { rollout: { drain: '4s', progressDeadline: '20s' } });
    await eventually('the switch to v4d', () => drains() > before, 30_000, 20);
    const list = await backendContainers();
    expect(list).toHaveLength(2);
    const serving = list.find((c) => c.Names[0] === `/${instance}-backend`);
    expect(serving?.Labels['io.certitrack.spec-hash']).toBeDefined();
    // The follower's link: its own view of `backend` is whichever container holds the service's name.
    const nginxId = (await containersOf(instance, 'nginx'))[0]?.Id as string;
    const resolved = await adapter.containers.exec(nginxId, ['getent', 'ahostsv4', 'backend']);
    const servingIp = Object.values((await inspect(serving?.Id as string)).NetworkSettings.Networks)[0]?.IPAddress;
    expect(new Set(resolved.outputTail.trim().split('\n').map((l) => l.split(/\s+/)[0]))).toEqual(new Set([servingIp]));
    // Requests sent after the reload (old workers may finish one already in hand) all reach v4d.
    await new Promise((r) => setTimeout(r, 300));
    const answers: string[] = [];
    for (const end = Date.now() + 1500; Date.now() < end; ) answers.push((await get()).body);
    expect(answers.length).toBeGreaterThan(20);
    expect(new Set(answers)).toEqual(new Set(['v4d']));
    expect((await backendContainers()).length, 'the old container still drains meanwhile').toBe(2);
    await eventually('v4d: rolled out, the old container gone', async () => progressing()?.reason === 'RolloutComplete' && (await backendContainers()).length === 1, 30_000);
  });

  it('starts a newer spec while the previous rollout drains, without waiting for it; its switch drains both', async () => {
    const slow = { rollout: { drain: '8s', progressDeadline: '20s' } };
    const loop = requestLoop();
    let most = 0;
    let watching = true;
    // How many backend containers ran at once: three only if v6 started before v4 had drained.
    const watch = (async () => {
      while (watching) {
        most = Math.max(most, (await backendContainers()).length);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      await writeStack('v5', slow);
      await eventually('v5 serves while v4 drains', async () => loop.seen.has('v5') && logs.lines.some((l) => l.includes('draining the old one')) && (await backendContainers()).length === 2, 30_000);
      await writeStack('v6', slow);
      await eventually('v6 served', async () => loop.seen.has('v6') && (await get()).body === 'v6', 60_000);
      await eventually('v6: rolled out, v4 and v5 gone', async () => {
        const list = await backendContainers();
        return progressing()?.reason === 'RolloutComplete' && list.length === 1 && list[0]?.Names[0] === `/${instance}-backend`;
      }, 60_000);
    } finally {
      watching = false;
      await watch;
      await loop.stop();
    }
    expect(loop.failures).toEqual([]);
    expect(most).toBe(3);
    const history = (agent.statusDocument().resources as { kind: string; name: string; details: { rollouts?: { result: string; reason: string }[] } }[]).find((r) => r.name === 'backend')?.details.rollouts ?? [];
    expect(history.slice(0, 2).map((h) => h.result)).toEqual(['succeeded', 'superseded']);
  });

  it('rolls back a version that never becomes healthy: the old one keeps serving, the failure is visible, and it is not retried in a loop', async () => {
    const before = (await backendContainers())[0]?.Id;
    const serving = (await get()).body;
    const loop = requestLoop();
    try {
      await writeStack('bad');
      await eventually('the rollout failed', async () => progressing()?.reason === 'RolloutFailed', 60_000);
      // Backed off: well past the failure, no second attempt has started.
      const after = Date.now();
      await eventually('a few more requests', async () => loop.count() > 200 && Date.now() - after > 2000, 30_000);
    } finally {
      await loop.stop();
    }
    expect(loop.failures).toEqual([]);
    expect([...loop.seen]).toEqual([serving]);
    const list = await backendContainers();
    expect(list.map((c) => c.Id)).toEqual([before]);
    expect(progressing()).toMatchObject({ status: 'False', reason: 'RolloutFailed', message: expect.stringContaining('not ready within the progress deadline of 4s') });
    const ready = condition('Ready').find((r) => r.name === 'backend')?.conditions.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'True' });
    const metrics = await agent.parts.registry.getSingleMetricAsString('certitrack_rollouts_total');
    expect(metrics).toContain('certitrack_rollouts_total{service="backend",result="rolled_back"} 1');
    // One attempt of the bad version, not a storm.
    const attempts = logs.lines.filter((l) => l.includes('rolling back: removing the new container'));
    expect(attempts).toHaveLength(1);
    // `history` shows it too.
    const hist = await runCli(['history', 'backend', '--state-dir', stateDir, '-o', 'json'], { CERTITRACK_STATE_DIR: stateDir });
    expect(hist.code).toBe(0);
    expect(JSON.parse(hist.stdout)[0]).toMatchObject({ service: 'backend', result: 'rolled_back', strategy: 'StartFirst' });
  });

  it('defaults to StopFirst for a service that mounts a named volume read-write', async () => {
    await writeManifest(dir, 'db.yaml', [doc('Volume', 'data'), doc('Service', 'db', backend('d1', { volumes: ['data:/data'], networks: [] }))]);
    await eventually('db running', async () => (await containersOf(instance, 'db')).some((c) => c.State === 'running'), 60_000);
    await writeManifest(dir, 'db.yaml', [doc('Volume', 'data'), doc('Service', 'db', backend('d2', { volumes: ['data:/data'], networks: [] }))]);
    await eventually('db replaced', async () => logs.lines.some((l) => l.includes('replacing container') && l.includes('Service/db')), 60_000);
    expect(logs.lines.some((l) => l.includes('starting the new version beside the old one') && l.includes('Service/db'))).toBe(false);
  });

  it('refuses StartFirst where it is unsafe, naming file, line and field', async () => {
    const bad = await tempDir('rollout-bad');
    await writeManifest(bad, 'svc.yaml', [doc('Service', 'web', { image: BUSYBOX, ports: ['127.0.0.1:18081:80'], rollout: { strategy: 'StartFirst' } })]);
    const r = await runCli(['validate', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/svc\.yaml:\d+:\d+: spec\.rollout\.strategy: StartFirst is unsafe here: it publishes host port 127\.0\.0\.1:18081/);
    await removeDir(bad);
  });
});
