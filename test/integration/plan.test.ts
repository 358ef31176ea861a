import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlannedAction } from '../../src/engine/reconcile.js';
import { runCli } from '../helpers/cli.js';
import { BUSYBOX, cleanupInstance, docker, inspect, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';
import { doc, idleService, writeManifest } from '../helpers/manifests.js';

// `plan` against a running stack: after editing one env value, one image and a Network's
// `internal`, it shows exactly those three changes with from/to; after apply, "No changes." (exit 0).
const instance = testInstance('plan');
const otherTag = `certitrack-test/busybox:plan-${instance}`;
let dir: string;
let stateDir: string;

async function apply(): Promise<void> {
  const t = await startTestAgent(dir, instance, { stateDir });
  const result = await t.agent.applyOnce(60_000);
  await t.agent.stop();
  expect(result.converged).toBe(true);
}

const plan = (...extra: string[]) => runCli(['plan', dir, '--state-dir', stateDir, '--instance', instance, ...extra]);

async function writeStack(opts: { mode: string; workerImage: string; internal: boolean }): Promise<void> {
  await writeManifest(dir, 'stack.yaml', [
    doc('Network', 'net', { internal: opts.internal }),
    doc('Service', 'api', idleService({ networks: ['net'], env: { MODE: opts.mode, TOKEN: { secretRef: 'TOKEN' } } })),
    doc('Service', 'worker', idleService({ image: opts.workerImage, networks: ['net'] })),
  ]);
}

beforeAll(async () => {
  dir = await tempDir('plan-manifests');
  stateDir = await tempDir('plan-state');
  await docker.getImage(BUSYBOX).tag({ repo: 'certitrack-test/busybox', tag: `plan-${instance}` });
  await writeFile(join(dir, '.secrets'), 'TOKEN=s3cr3t-value-1\n');
  process.env.CERTITRACK_SECRETS_FILE = join(dir, '.secrets');
  await writeStack({ mode: 'one', workerImage: BUSYBOX, internal: false });
  await apply();
});

afterAll(async () => {
  delete process.env.CERTITRACK_SECRETS_FILE;
  await cleanupInstance(instance);
  await docker.getImage(otherTag).remove().catch(() => undefined);
  await removeDir(dir);
  await removeDir(stateDir);
});

describe('certitrack-agent plan', () => {
  it('says "No changes." with exit 0 when reality matches', async () => {
    const r = await plan();
    expect(r.stdout).toContain('No changes.');
    expect(r.code).toBe(0);
  });

  it('shows exactly the edited env value, image and network flag, with from and to', async () => {
    const apiBefore = (await inspect(`${instance}-api`)).Id;
    await writeStack({ mode: 'two', workerImage: otherTag, internal: true });
    const json = await plan('-o', 'json');
    expect(json.code).toBe(2);
    const doc = JSON.parse(json.stdout) as { changes: number; actions: PlannedAction[] };
    expect(doc.changes).toBe(3);
    const byKey = Object.fromEntries(doc.actions.map((a) => [`${a.kind}/${a.name}`, a]));
    expect(byKey['Service/api']).toMatchObject({ action: 'recreate', changes: [{ path: 'spec.env.MODE', from: '"one"', to: '"two"' }] });
    expect(byKey['Service/worker']).toMatchObject({ action: 'recreate', changes: [{ path: 'spec.image', from: `"${BUSYBOX}"`, to: `"${otherTag}"` }] });
    expect(byKey['Network/net']).toMatchObject({ action: 'recreate', changes: [{ path: 'spec.internal', from: 'false', to: 'true' }] });

    const text = await plan();
    expect(text.code).toBe(2);
    expect(text.stdout).toContain('spec.env.MODE: "one" → "two"');
    expect(text.stdout).toContain(`spec.image: "${BUSYBOX}" → "${otherTag}"`);
    expect(text.stdout).toContain('spec.internal: false → true');
    expect(text.stdout).toContain('Plan: 3 change(s).');
    expect(text.stdout).not.toContain('s3cr3t');
    // plan changed nothing
    expect((await inspect(`${instance}-api`)).Id).toBe(apiBefore);
  });

  it('shows a changed secret only as changed, and after apply plans nothing', async () => {
    await writeFile(join(dir, '.secrets'), 'TOKEN=s3cr3t-value-2\n');
    const text = await plan();
    expect(text.stdout).toContain('spec.env.TOKEN: (secret changed)');
    expect(text.stdout).not.toContain('s3cr3t');
    await apply();
    const after = await plan();
    expect(after.stdout).toContain('No changes.');
    expect(after.code).toBe(0);
    const net = await docker.getNetwork(`${instance}-net`).inspect();
    expect(net.Internal).toBe(true);
    expect(Object.keys(net.Containers ?? {})).toHaveLength(2);
  });

  it('plans the refusal apply gives for an empty folder', async () => {
    const empty = await tempDir('plan-empty');
    const r = await runCli(['plan', empty, '--state-dir', stateDir, '--instance', instance]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no manifests found; refusing to remove everything');
    await removeDir(empty);
  });
});
