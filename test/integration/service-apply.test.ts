import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUSYBOX, cleanupInstance, containersOf, docker, inspect, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';
import { doc, idleService, webService, writeManifest } from '../helpers/manifests.js';

// Scenarios (a), (b), (c) and (g) of issue 2, each through `applyOnce` against the real engine.
const instance = testInstance('apply');
let dir: string;
let stateDir: string;

async function apply(timeoutMs = 60_000) {
  const t = await startTestAgent(dir, instance, { stateDir });
  const result = await t.agent.applyOnce(timeoutMs);
  await t.agent.stop();
  return { ...result, logs: t.logs };
}

const ids = async (): Promise<Record<string, string>> =>
  Object.fromEntries((await containersOf(instance)).filter((c) => c.Labels['io.certitrack.managed-by']).map((c) => [c.Labels['io.certitrack.service'] as string, c.Id]));

beforeAll(async () => {
  dir = await tempDir('manifests');
  stateDir = await tempDir('state');
  await writeManifest(dir, 'network.yaml', [doc('Network', 'net'), doc('Volume', 'data')]);
  await writeManifest(dir, 'db.yaml', [doc('Service', 'db', webService({ networks: ['net'], volumes: ['data:/data'] }))]);
  await writeManifest(dir, 'api.yaml', [
    doc('Service', 'api', webService({ networks: ['net'], dependsOn: [{ service: 'db', condition: 'healthy' }], env: { MODE: 'one' } })),
  ]);
  await writeManifest(dir, 'worker.yaml', [doc('Service', 'worker', idleService({ networks: ['net'], dependsOn: ['api'] }))]);
});

afterAll(async () => {
  await cleanupInstance(instance);
  await removeDir(dir);
  await removeDir(stateDir);
});

describe('applying a stack', () => {
  it('(a) starts services in dependency order and becomes ready', async () => {
    const result = await apply();
    expect(result.converged).toBe(true);
    const db = await inspect(`${instance}-db`);
    const api = await inspect(`${instance}-api`);
    const worker = await inspect(`${instance}-worker`);
    expect([db.State.Running, api.State.Running, worker.State.Running]).toEqual([true, true, true]);
    // api waited for db to be *healthy*: db's first passing probe ended before api started.
    const firstHealthy = (db.State as unknown as { Health: { Log: { End: string; ExitCode: number }[] } }).Health.Log.find((l) => l.ExitCode === 0);
    expect(firstHealthy).toBeDefined();
    expect(new Date(api.State.StartedAt).getTime()).toBeGreaterThanOrEqual(new Date(firstHealthy!.End).getTime() - 5);
    expect(new Date(worker.State.StartedAt).getTime()).toBeGreaterThanOrEqual(new Date(api.State.StartedAt).getTime());
    // Owned, hashed, and on the declared network with the service name as alias.
    expect(api.Config.Labels['io.certitrack.spec-hash']).toMatch(/^[0-9a-f]{16}$/);
    expect(api.NetworkSettings.Networks[`${instance}-net`]?.Aliases).toContain('api');
    expect(api.HostConfig.RestartPolicy?.Name).toBe('no');
  });

  it('(b) a second start recreates nothing', async () => {
    const before = await ids();
    const result = await apply();
    expect(result.converged).toBe(true);
    if (JSON.stringify(await ids()) !== JSON.stringify(before)) console.log(result.logs.lines.filter((l) => /creat|remov|start/.test(l)).join('\n'));
    expect(await ids()).toEqual(before);
    expect(result.logs.text()).not.toContain('creating container');
  });

  it('(c) editing one service env replaces exactly that container', async () => {
    const before = await ids();
    await writeManifest(dir, 'api.yaml', [
      doc('Service', 'api', webService({ networks: ['net'], dependsOn: [{ service: 'db', condition: 'healthy' }], env: { MODE: 'two' } })),
    ]);
    const result = await apply();
    expect(result.converged).toBe(true);
    const after = await ids();
    expect(after.api).not.toBe(before.api);
    expect(after.db).toBe(before.db);
    expect(after.worker).toBe(before.worker);
    expect((await inspect(`${instance}-api`)).Config.Env).toContain('MODE=two');
  });

  it('(g) a removed manifest removes its container and leaves unlabelled containers alone', async () => {
    const stranger = await docker.createContainer({ Image: BUSYBOX, name: `${instance}-stranger`, Cmd: ['sleep', '300'], Labels: { 'io.certitrack.instance': instance } });
    await stranger.start();
    try {
      await rm(join(dir, 'worker.yaml'));
      const result = await apply();
      expect(result.converged).toBe(true);
      expect(Object.keys(await ids()).sort()).toEqual(['api', 'db']);
      expect((await stranger.inspect()).State.Running).toBe(true);
    } finally {
      await stranger.remove({ force: true });
    }
  });

  it('refuses to prune everything when the folder becomes empty', async () => {
    const before = await ids();
    const emptyDir = await tempDir('empty');
    const t = await startTestAgent(emptyDir, instance, { stateDir });
    const result = await t.agent.applyOnce(10_000);
    await t.agent.stop();
    expect(result.load.ok).toBe(false);
    expect(result.load.errors.join('\n')).toMatch(/refusing to remove everything/);
    expect(await ids()).toEqual(before);
    await writeFile(join(emptyDir, 'README.txt'), 'not yaml');
    await removeDir(emptyDir);
  });
});
