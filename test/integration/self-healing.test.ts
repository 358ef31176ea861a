import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent.js';
import { apiFetch, cleanupInstance, docker, eventually, inspect, LogCapture, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';
import { doc, idleService, webService, writeManifest } from '../helpers/manifests.js';

// Scenario (d) of issue 2 and the HTTP endpoints, against a running agent following Docker events.
const instance = testInstance('heal');
let dir: string;
let agent: Agent;
let logs: LogCapture;
let base: string;

const restartsOf = async (service: string): Promise<number> => {
  const text = await (await fetch(`${base}/metrics`)).text();
  const re = new RegExp(`certitrack_service_restarts_total\\{service="${service}",reason="[a-z]+"\\} (\\d+)`, 'g');
  return [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
};

beforeAll(async () => {
  dir = await tempDir('manifests');
  await writeManifest(dir, 'stack.yaml', [
    doc('Service', 'web', webService()),
    // Healthy only while /tmp/healthy exists, so the test can make it unhealthy from outside.
    doc('Service', 'flaky', idleService({
      command: 'touch /tmp/healthy; trap "exit 0" TERM; while true; do sleep 1; done',
      healthcheck: { command: 'test -f /tmp/healthy', interval: '500ms', timeout: '1s', retries: 1 },
    })),
  ]);
  const t = await startTestAgent(dir, instance);
  agent = t.agent;
  logs = t.logs;
  await agent.run();
  base = `http://127.0.0.1:${agent.address!.port}`;
  await eventually('web and flaky ready', async () => (await apiFetch(agent, '/status')).ok && agent.notReadyServices().length === 0);
});

afterAll(async () => {
  await agent?.stop();
  await cleanupInstance(instance);
  await removeDir(dir);
});

describe('self-healing', () => {
  it('restarts a container killed with docker kill (Docker itself would not)', async () => {
    const before = await inspect(`${instance}-web`);
    await docker.getContainer(`${instance}-web`).kill();
    const after = await eventually('web running again', async () => {
      const c = await inspect(`${instance}-web`);
      return c.State.Running && c.State.StartedAt !== before.State.StartedAt ? c : undefined;
    }, 15_000, 50);
    expect(after.Id).toBe(before.Id);
    expect(await restartsOf('web')).toBeGreaterThanOrEqual(1);
  });

  it('recreates a container removed with docker rm -f', async () => {
    const before = await inspect(`${instance}-web`);
    await docker.getContainer(`${instance}-web`).remove({ force: true });
    const after = await eventually('web recreated', async () => {
      const c = await inspect(`${instance}-web`).catch(() => undefined);
      return c?.State.Running ? c : undefined;
    }, 20_000, 100);
    expect(after.Id).not.toBe(before.Id);
  });

  it('restarts a container that turns unhealthy', async () => {
    const before = await inspect(`${instance}-flaky`);
    const exec = await docker.getContainer(`${instance}-flaky`).exec({ Cmd: ['rm', '/tmp/healthy'] });
    await exec.start({});
    const after = await eventually('flaky restarted', async () => {
      const c = await inspect(`${instance}-flaky`);
      return c.State.StartedAt !== before.State.StartedAt && c.State.Running ? c : undefined;
    }, 30_000, 100);
    expect(after.Id).toBe(before.Id);
    // The restarted process recreates /tmp/healthy, so it becomes healthy again.
    await eventually('flaky healthy again', async () => (await inspect(`${instance}-flaky`)).State.Health?.Status === 'healthy', 20_000);
    expect(logs.text()).toContain('restarting unhealthy container');
  });

  it('backs off a crash loop with growing delays', async () => {
    // Added now, so its backoff starts from nothing (base 1 s in the test config, max 8 s).
    await writeManifest(dir, 'crasher.yaml', [doc('Service', 'crasher', idleService({ command: 'sleep 0.2; exit 3' }))]);
    await eventually('crasher created', async () => inspect(`${instance}-crasher`).catch(() => undefined), 10_000);
    const starts: number[] = [];
    const deadline = Date.now() + 25_000;
    let last = '';
    while (Date.now() < deadline && starts.length < 5) {
      const c = await inspect(`${instance}-crasher`);
      // A container created but not yet started reports 0001-01-01 as StartedAt: not a start.
      const startedAt = new Date(c.State.StartedAt).getTime();
      if (c.State.StartedAt !== last && startedAt > 0) {
        last = c.State.StartedAt;
        starts.push(startedAt);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(starts.length).toBeGreaterThanOrEqual(4);
    const gaps = starts.slice(1).map((t, i) => t - (starts[i] as number));
    // Base 1 s doubling (test config): each gap clearly longer than the one two before it.
    expect(gaps[gaps.length - 1]!).toBeGreaterThan(gaps[0]! * 1.5);
    const status = (await (await apiFetch(agent, '/status')).json()) as { resources: { name: string; details: { restarts: number } }[] };
    expect(status.resources.find((r) => r.name === 'crasher')?.details.restarts).toBeGreaterThanOrEqual(3);
  });

  it('serves healthz, readyz, metrics and status on loopback', async () => {
    expect(agent.address!.host).toBe('127.0.0.1');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    // The crash-looping service is ready only in the instants it runs: readyz must agree with its own list.
    const ready = await fetch(`${base}/readyz`);
    const body = (await ready.json()) as { notReady: string[]; revision: string; appliedRevision: string };
    expect(ready.status).toBe(body.notReady.length === 0 && body.revision === body.appliedRevision ? 200 : 503);
    expect(body.notReady.filter((s) => s !== 'crasher')).toEqual([]);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    for (const name of ['certitrack_reconcile_total{kind="Service",result="success"}', 'certitrack_reconcile_time_seconds_bucket', 'certitrack_workqueue_depth', 'certitrack_service_up{service="web"} 1', 'certitrack_service_ready{service="web"} 1', 'certitrack_manifest_load_success 1', 'certitrack_manifest_last_load_timestamp_seconds', 'certitrack_applied_revision_info', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'certitrack_build_info{version="']) {
      expect(metrics).toContain(name);
    }
    // Node's standard metrics keep their standard names, so stock dashboards work.
    expect(metrics).not.toContain('certitrack_agent_');
  });
});
