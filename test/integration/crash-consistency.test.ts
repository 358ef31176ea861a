import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupInstance, containersOf, docker, removeDir, tempDir, testInstance } from '../helpers/docker.js';
import { runCli } from '../helpers/cli.js';
import { doc, idleService, webService, writeManifest } from '../helpers/manifests.js';

// Scenario (f) of issue 2: the agent SIGKILLed at arbitrary moments of an apply converges after a
// restart with no duplicate, lost or orphaned container.
const instance = testInstance('kill');
let dir: string;
let stateDir: string;
const SERVICES = ['s1', 's2', 's3', 's4'];

beforeAll(async () => {
  dir = await tempDir('manifests');
  stateDir = await tempDir('state');
  await writeManifest(dir, 'net.yaml', [doc('Network', 'net')]);
});

afterAll(async () => {
  await cleanupInstance(instance);
  await removeDir(dir);
  await removeDir(stateDir);
});

async function writeStack(version: number): Promise<void> {
  await writeManifest(
    dir,
    'stack.yaml',
    SERVICES.map((name, i) =>
      doc('Service', name, i === 0 ? webService({ networks: ['net'], env: { VERSION: String(version) } }) : idleService({ networks: ['net'], env: { VERSION: String(version) }, dependsOn: [{ service: SERVICES[i - 1], condition: i === 1 ? 'healthy' : 'started' }] })),
    ),
  );
}

const args = ['apply', '--timeout', '60s', '--state-dir', '', '--instance', instance, '--restart-backoff', '1s'];

describe('SIGKILL mid-apply', () => {
  it('converges after every kill with exactly one container per service', async () => {
    args[4] = stateDir;
    const kills = [150, 400, 700, 1000, 1300, 1700];
    for (const [round, killAfter] of kills.entries()) {
      await writeStack(round); // every round changes every spec, so each apply recreates everything
      const killed = await runCli([...args.slice(0, 1), dir, ...args.slice(1)], {}, killAfter + Math.floor(Math.random() * 200));
      const converged = await runCli([...args.slice(0, 1), dir, ...args.slice(1)]);
      expect(converged.code, `round ${round} (killed: ${killed.signal ?? 'finished first'}): ${converged.stderr}`).toBe(0);
      const containers = await containersOf(instance);
      const byService = new Map<string, number>();
      for (const c of containers) byService.set(c.Labels['io.certitrack.service']!, (byService.get(c.Labels['io.certitrack.service']!) ?? 0) + 1);
      expect(Object.fromEntries(byService)).toEqual(Object.fromEntries(SERVICES.map((s) => [s, 1])));
      expect(containers.every((c) => c.State === 'running')).toBe(true);
      const versions = await Promise.all(containers.map(async (c) => (await docker.getContainer(c.Id).inspect()).Config.Env.find((e) => e.startsWith('VERSION='))));
      expect(new Set(versions)).toEqual(new Set([`VERSION=${round}`]));
      const networks = await docker.listNetworks({ filters: { label: [`io.certitrack.instance=${instance}`] } });
      expect(networks.map((n) => n.Name)).toEqual([`${instance}-net`]);
    }
  });
});
