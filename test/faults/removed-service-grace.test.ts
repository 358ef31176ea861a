import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent.js';
import { cleanupInstance, containersOf, eventually, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';
import { doc, idleService, writeManifest } from '../helpers/manifests.js';

// Found by the SIGKILL rounds of issue 7: every round that dropped a service took 10 s longer,
// because a service no longer declared was stopped with a fixed 10 s grace (`docker stop -t 10`
// overriding the StopTimeout the container was created with). Fixed in src/; a regression test now.
const instance = testInstance('fgrace');
let dir: string;
let agent: Agent;

beforeAll(async () => {
  dir = await tempDir('fgrace');
  await writeManifest(dir, 'keeper.yaml', [doc('Service', 'keeper', idleService())]);
  // Ignores SIGTERM, like busybox httpd or any PID 1 without a handler: only the grace period ends it.
  await writeManifest(dir, 'stubborn.yaml', [doc('Service', 'stubborn', idleService({ command: 'trap "" TERM; while true; do sleep 1; done', stopGracePeriod: '1s' }))]);
  const t = await startTestAgent(dir, instance);
  agent = t.agent;
  await agent.run();
  await eventually('stack ready', () => agent.parts.controller.isApplied() && agent.notReadyServices().length === 0, 30_000);
});

afterAll(async () => {
  await agent?.stop();
  await cleanupInstance(instance);
  if (dir) await removeDir(dir);
});

describe('removing a service from the manifests', () => {
  it('stops its container within the stopGracePeriod it was declared with, not a fixed 10 s', async () => {
    const t0 = Date.now();
    await writeManifest(dir, 'stubborn.yaml', '# removed\n');
    await eventually('stubborn removed', async () => (await containersOf(instance, 'stubborn')).length === 0, 30_000, 50);
    // 1 s of grace, plus the watcher's debounce and Docker's own work.
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
