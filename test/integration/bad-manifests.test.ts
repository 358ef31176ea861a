import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Agent } from '../../src/agent.js';
import { apiFetch, cleanupInstance, containersOf, eventually, LogCapture, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';
import { doc, idleService, writeManifest } from '../helpers/manifests.js';

// Scenario (e) of issue 2 and the watcher: a saved change applies within ~2 s; a broken one touches nothing.
const instance = testInstance('bad');
let dir: string;
let agent: Agent;
let logs: LogCapture;
let base: string;

const snapshot = async () => (await containersOf(instance)).map((c) => `${c.Labels['io.certitrack.service']}:${c.Id}:${c.State}`).sort();

beforeAll(async () => {
  dir = await tempDir('manifests');
  await writeManifest(dir, 'a.yaml', [doc('Service', 'a', idleService({ env: { V: '1' } }))]);
  await writeManifest(dir, 'b.yaml', [doc('Service', 'b', idleService())]);
  const t = await startTestAgent(dir, instance);
  agent = t.agent;
  logs = t.logs;
  await agent.run();
  base = `http://127.0.0.1:${agent.address!.port}`;
  await eventually('stack ready', () => agent.notReadyServices().length === 0 && agent.parts.controller.isApplied());
});

afterAll(async () => {
  await agent?.stop();
  await cleanupInstance(instance);
  await removeDir(dir);
});

describe('watching the folder', () => {
  it('applies a saved change by watching the folder (no reload asked for)', async () => {
    const before = (await containersOf(instance, 'a'))[0]!.Id;
    await writeManifest(dir, 'a.yaml', [doc('Service', 'a', idleService({ env: { V: '2' } }))]);
    await eventually('a replaced and running', async () => {
      const [c] = await containersOf(instance, 'a');
      return c && c.Id !== before && c.State === 'running';
    }, 10_000, 50);
  });

  it('(e) rejects a broken change as a whole, names file and line, touches nothing, and resumes when fixed', async () => {
    await eventually('applied', () => agent.parts.controller.isApplied());
    const before = await snapshot();
    // One valid change and one broken file in the same "commit": neither may apply.
    await writeManifest(dir, 'b.yaml', [doc('Service', 'b', idleService({ env: { CHANGED: 'yes' } }))]);
    await writeFile(join(dir, 'c.yaml'), 'apiVersion: certitrack.io/v1\nkind: Service\nmetadata:\n  name: c\nspec:\n  image: x\n  ports: ["not-a-port"]\n');
    const status = await eventually('rejection visible in /status', async () => {
      const s = (await (await apiFetch(agent, '/status')).json()) as { manifests: { ok: boolean; errors: string[] } };
      return s.manifests.ok === false ? s : undefined;
    }, 10_000);
    expect(status.manifests.errors.join('\n')).toMatch(/c\.yaml:7:\d+: spec\.ports\[0\]: expected HOST:CONTAINER/);
    expect(logs.text()).toMatch(/manifest rejected: .*c\.yaml:7/);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/certitrack_manifest_load_success 0/);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await snapshot()).toEqual(before);

    // Fixing the file resumes normal work: the pending change to b applies and c is created.
    await writeFile(join(dir, 'c.yaml'), 'apiVersion: certitrack.io/v1\nkind: Service\nmetadata:\n  name: c\nspec:\n  image: certitrack-test/busybox:latest\n  pullPolicy: Never\n  command: ["sleep", "3600"]\n  stopGracePeriod: 1s\n');
    await eventually('c running', async () => (await containersOf(instance, 'c'))[0]?.State === 'running', 15_000);
    await eventually('b replaced by the pending change', async () => {
      const [b] = await containersOf(instance, 'b');
      return b && b.State === 'running' && !before.some((s) => s.includes(b.Id));
    }, 15_000);
  });

  it('keeps everything running when the folder disappears, and picks it up again', async () => {
    await eventually('applied', () => agent.parts.controller.isApplied());
    const before = await snapshot();
    await rename(dir, `${dir}.moved`);
    await eventually('rejection', () => agent.lastLoad?.ok === false, 10_000);
    expect(agent.lastLoad?.errors.join()).toMatch(/does not exist/);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await snapshot()).toEqual(before);
    await rename(`${dir}.moved`, dir);
    await eventually('accepted again', () => agent.lastLoad?.ok === true, 15_000);
    expect(await snapshot()).toEqual(before);
    await rm(`${dir}.moved`, { recursive: true, force: true });
  });
});
