import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupInstance, createVolumeWithData, docker, inspect, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';
import { doc, idleService, writeManifest } from '../helpers/manifests.js';

// A Volume with `external: true` (what import-compose writes for compose's external volumes) is
// mounted by its real Docker name and never created, labelled or removed by the agent.
const instance = testInstance('extvol');
const realName = `${instance}_made-by-hand`;
const missingName = `${instance}_never-made`;
let dir: string;
let stateDir: string;

const volumeNames = async (): Promise<string[]> => ((await docker.listVolumes()).Volumes ?? []).map((v) => v.Name).filter((n) => n.startsWith(instance));

async function apply(timeoutMs: number) {
  const t = await startTestAgent(dir, instance, { stateDir });
  try {
    const result = await t.agent.applyOnce(timeoutMs);
    const plan = await t.agent.plan();
    return { ...result, plan, logs: t.logs };
  } finally {
    await t.agent.stop();
  }
}

beforeAll(async () => {
  dir = await tempDir('manifests');
  stateDir = await tempDir('state');
  // Data that exists before the agent ever runs, as in a volume compose made.
  await createVolumeWithData(realName, 'echo kept > /data/marker');
});

afterAll(async () => {
  await cleanupInstance(instance);
  for (const name of [realName, missingName]) await docker.getVolume(name).remove().catch(() => undefined);
  await removeDir(dir);
  await removeDir(stateDir);
});

describe('an external volume', () => {
  it('is mounted by its real name, with its data, and no volume of the agent is made', async () => {
    await writeManifest(dir, 'app.yaml', [
      doc('Volume', 'data', { external: true, name: realName }),
      doc('Service', 'app', idleService({ volumes: ['data:/data'], command: 'test "$(cat /data/marker)" = kept || exit 1; trap "exit 0" TERM; while true; do sleep 1; done' })),
    ]);
    const result = await apply(30_000);
    expect(result.converged).toBe(true);
    const app = await inspect(`${instance}-app`);
    expect(app.State.Running).toBe(true);
    expect(app.Mounts.map((m) => m.Name)).toEqual([realName]);
    expect(await volumeNames()).toEqual([realName]);
    // Not adopted either: it carries none of the agent's labels.
    expect((await docker.getVolume(realName).inspect()).Labels ?? {}).toEqual({});
    expect(result.plan.actions).toEqual([]);
  });

  it('is never removed, also when no longer declared', async () => {
    await writeManifest(dir, 'app.yaml', [doc('Service', 'app', idleService())]);
    const result = await apply(30_000);
    expect(result.converged).toBe(true);
    expect(await volumeNames()).toEqual([realName]);
  });

  it('that does not exist blocks the service and is not created by anyone', async () => {
    await writeManifest(dir, 'app.yaml', [
      doc('Volume', 'gone', { external: true, name: missingName }),
      doc('Service', 'app', idleService({ volumes: ['gone:/data'] })),
    ]);
    const result = await apply(4_000);
    expect(result.converged).toBe(false);
    expect(result.logs.text()).toContain(`create it with: docker volume create ${missingName}`);
    expect(result.plan.actions).toContainEqual(expect.objectContaining({ kind: 'Volume', name: 'gone', action: 'wait' }));
    expect(await volumeNames()).toEqual([realName]);
  });
});
