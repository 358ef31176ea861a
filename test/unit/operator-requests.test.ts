import { afterEach, describe, expect, it } from 'vitest';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import type { DesiredState } from '../../src/manifests/desired-state.js';
import { DurableState } from '../../src/state/durable-state.js';
import { OperatorRequests, RESTARTED_AT_LABEL } from '../../src/state/operator-requests.js';
import { doc, idleService, writeManifest } from '../helpers/manifests.js';
import { removeDir, tempDir } from '../helpers/docker.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await removeDir(d);
});

async function snapshot(): Promise<DesiredState> {
  const dir = await tempDir('opreq');
  dirs.push(dir);
  await writeManifest(dir, 'stack.yaml', [
    doc('Service', 'web', idleService({ labels: { team: 'a' } })),
    doc('Schedule', 'tick', { schedule: '@daily', exec: { service: 'web', command: 'true' } }),
  ]);
  const load = await loadManifests(dir, { secrets: new StaticSecrets({}) });
  if (!load.ok) throw new Error(JSON.stringify(load.errors));
  return load.state;
}

async function requests(now = new Date('2026-12-01T10:00:00Z')): Promise<{ reqs: OperatorRequests; state: DurableState; dir: string }> {
  const dir = await tempDir('opreq-state');
  dirs.push(dir);
  const state = await DurableState.open(dir);
  return { reqs: new OperatorRequests(state, () => now), state, dir };
}

describe('operator requests laid over the manifests', () => {
  it('a restart puts its time on the service as a label (a new spec, a normal rollout) and keeps the revision', async () => {
    const desired = await snapshot();
    const { reqs } = await requests();
    expect(reqs.overlay(desired)).toBe(desired);
    expect(reqs.restart('web').generation).toBe(1);
    expect(reqs.restart('web').generation).toBe(2);
    const after = reqs.overlay(desired);
    expect(after.revision).toBe(desired.revision);
    expect((after.get('Service', 'web')?.spec.labels ?? {})[RESTARTED_AT_LABEL]).toBe('2026-12-01T10:00:00.000Z');
    expect(after.get('Service', 'web')?.spec.labels.team).toBe('a');
    // The snapshot itself is untouched.
    expect(desired.get('Service', 'web')?.spec.labels[RESTARTED_AT_LABEL]).toBeUndefined();
  });

  it('a suspended Schedule carries suspend: true (its reconciler owes no missed slot); a Service is held back by the engine', async () => {
    const desired = await snapshot();
    const { reqs } = await requests();
    reqs.suspend('Schedule/tick');
    reqs.suspend('Service/web');
    expect(reqs.overlay(desired).get('Schedule', 'tick')?.spec.suspend).toBe(true);
    expect(reqs.suspended('Schedule/tick', desired)).toMatchObject({ bySpec: true });
    expect(reqs.suspended('Service/web', desired)).toMatchObject({ bySpec: false, message: expect.stringContaining('certitrack-agent resume Service/web') });
    expect(reqs.suspended('Network/none', desired)).toBeUndefined();
    expect(reqs.resume('Service/web')).toBe(true);
    expect(reqs.resume('Service/web')).toBe(false);
    expect(reqs.suspended('Service/web', desired)).toBeUndefined();
  });

  it('suspending twice keeps the first time; both requests survive a restart of the agent (state.json)', async () => {
    const desired = await snapshot();
    const { reqs, state, dir } = await requests();
    const first = reqs.suspend('Service/web');
    expect(new OperatorRequests(state, () => new Date('2027-01-01T00:00:00Z')).suspend('Service/web')).toEqual(first);
    reqs.restart('web');
    await state.flush();
    const reopened = new OperatorRequests(await DurableState.open(dir));
    expect(reopened.suspension('Service/web')).toEqual(first);
    expect(reopened.overlay(desired).get('Service', 'web')?.spec.labels[RESTARTED_AT_LABEL]).toBe('2026-12-01T10:00:00.000Z');
  });
});
