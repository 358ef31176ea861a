import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent.js';
import { cleanupInstance, containersOf, eventually, inspect, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';
import { ManifestsRemote } from '../helpers/git-remote.js';
import { doc, idleService, toYaml } from '../helpers/manifests.js';

// Issue 11, item 6: with manifests from git, relative paths resolve into one stable workspace, so a
// commit recreates and re-issues only what it really changes.
const instance = testInstance('gitws');
let remote: ManifestsRemote;
let stateDir: string;
let agent: Agent;

const COMMENT = '# deployed by the platform team\n';
/** Reloads on SIGHUP (counting the reloads in /tmp/reloads), as nginx does on `nginx -s reload`. */
const web = (comment = '') =>
  comment +
  toYaml([
    doc('Service', 'web', idleService({
      command: 'trap "echo reloaded >> /tmp/reloads" HUP; trap "exit 0" TERM; while true; do sleep 1; done',
      volumes: ['./conf/web.conf:/etc/web.conf:ro', './ssl:/ssl:ro'],
      reload: { signal: 'SIGHUP' },
    })),
  ]);
const api = (version: string, comment = '') => comment + toYaml([doc('Service', 'api', idleService({ env: { VERSION: version }, volumes: ['./conf:/conf:ro'] }))]);
const certificate = toYaml([doc('Certificate', 'site', { domains: ['localhost'], issuer: { selfSigned: {} }, certFile: './ssl/cert.pem', keyFile: './ssl/key.pem' })]);

const commit = (message: string, files: Record<string, string | null>): Promise<string> => remote.commit(message, files);

async function startAgent(): Promise<Agent> {
  const t = await startTestAgent('/nonexistent', instance, {
    stateDir,
    git: { url: remote.bare, branch: 'main', pollIntervalMs: 60_000, subdir: 'manifests', credentialsFile: undefined },
  });
  await t.agent.run();
  return t.agent;
}

/** Fetches now and waits until `sha` is the applied commit and every key of it has reconciled. */
async function deployed(sha: string): Promise<void> {
  await agent.parts.git!.syncNow();
  await eventually(`commit ${sha.slice(0, 8)} applied`, () => agent.parts.git!.status().appliedCommit === sha && agent.parts.controller.isApplied(), 30_000);
}

const containerIds = async (): Promise<Record<string, string>> =>
  Object.fromEntries((await containersOf(instance)).filter((c) => c.State === 'running').map((c) => [c.Labels['io.certitrack.service'] as string, c.Id]));
const workspace = (): string => agent.parts.git!.workspacePath;
const serial = async (): Promise<string> => new X509Certificate(await readFile(join(workspace(), 'ssl', 'cert.pem'))).serialNumber;
const inContainer = (id: string, ...cmd: string[]): string => execFileSync('docker', ['exec', id, ...cmd], { encoding: 'utf8' });

beforeAll(async () => {
  remote = await ManifestsRemote.create();
  stateDir = await tempDir('ws-state');
  const first = await commit('first', {
    'manifests/web.yaml': web(),
    'manifests/api.yaml': api('1'),
    'manifests/certificate.yaml': certificate,
    'manifests/conf/web.conf': 'greeting hello\n',
    'manifests/ssl/.gitkeep': '',
    'README.md': 'outside the manifests folder\n',
  });
  agent = await startAgent();
  await deployed(first);
}, 90_000);

afterAll(async () => {
  await agent?.stop();
  await cleanupInstance(instance);
  await remote?.remove();
  if (stateDir) await removeDir(stateDir);
});

describe('git commits change only what changed', () => {
  it('points every relative path at the workspace, where the agent-written certificate sits beside the repository files', async () => {
    const ids = await containerIds();
    expect(Object.keys(ids).sort()).toEqual(['api', 'web']);
    const mounts = (await inspect(ids.web!)).Mounts.map((m) => m.Source).sort();
    expect(mounts).toEqual([join(workspace(), 'conf', 'web.conf'), join(workspace(), 'ssl')]);
    expect(await readdir(join(workspace(), 'ssl'))).toEqual(expect.arrayContaining(['.gitkeep', 'cert.pem', 'key.pem']));
    // The bind-mounted folder shows the certificate the agent wrote.
    expect(inContainer(ids.web!, 'cat', '/ssl/cert.pem')).toBe(await readFile(join(workspace(), 'ssl', 'cert.pem'), 'utf8'));
  });

  it('recreates nothing and re-issues nothing for a comment-only commit', async () => {
    const before = await containerIds();
    const serialBefore = await serial();
    const sha = await commit('comments only', { 'manifests/web.yaml': web(COMMENT), 'manifests/api.yaml': api('1', COMMENT) });
    await deployed(sha);
    expect(await containerIds()).toEqual(before);
    expect(await serial()).toBe(serialBefore);
  });

  it('recreates only the one Service a commit changes', async () => {
    const before = await containerIds();
    const serialBefore = await serial();
    const sha = await commit('api v2', { 'manifests/api.yaml': api('2', COMMENT) });
    await deployed(sha);
    const after = await containerIds();
    expect(after.web).toBe(before.web);
    expect(after.api).not.toBe(before.api);
    expect(inContainer(after.api!, 'sh', '-c', 'echo $VERSION').trim()).toBe('2');
    expect(await serial()).toBe(serialBefore);
  });

  it('reloads a Service in place when a commit changes a file it bind-mounts and it declares a reload', async () => {
    const before = await containerIds();
    const sha = await commit('greeting', { 'manifests/conf/web.conf': 'greeting bonjour, a longer line than before\n' });
    await deployed(sha);
    const after = await containerIds();
    // The file was rewritten into the inode the running container's mount is pinned to: a reload suffices.
    expect(after.web).toBe(before.web);
    expect(inContainer(after.web!, 'cat', '/etc/web.conf')).toBe('greeting bonjour, a longer line than before\n');
    await eventually('reloaded', () => inContainer(after.web!, 'cat', '/tmp/reloads').includes('reloaded'), 10_000);
    expect(inContainer(after.api!, 'cat', '/conf/web.conf')).toBe('greeting bonjour, a longer line than before\n');
  });

  it('leaves the workspace untouched by a commit that fails validation', async () => {
    const applied = agent.parts.git!.status().appliedCommit;
    const before = await containerIds();
    const conf = await readFile(join(workspace(), 'conf', 'web.conf'), 'utf8');
    const listing = (await readdir(workspace(), { recursive: true })).sort();
    await commit('broken', {
      'manifests/conf/web.conf': 'greeting never\n',
      'manifests/extra.conf': 'new file\n',
      'manifests/api.yaml': api('3').replace('VERSION', 'not a valid name'),
    });
    await agent.parts.git!.syncNow();
    await eventually('rejection', () => agent.lastLoad?.ok === false, 15_000);
    expect(agent.lastLoad?.errors.join('\n')).toMatch(/^api\.yaml:\d+:\d+: spec\.env/m);
    expect(await readFile(join(workspace(), 'conf', 'web.conf'), 'utf8')).toBe(conf);
    expect((await readdir(workspace(), { recursive: true })).sort()).toEqual(listing);
    expect(agent.parts.git!.status().appliedCommit).toBe(applied);
    expect(await containerIds()).toEqual(before);
  });

  it('keeps containers and certificate across an agent restart, and never syncs what a rejected commit added', async () => {
    const fixed = await commit('fixed', { 'manifests/api.yaml': api('2', COMMENT), 'manifests/extra.conf': null, 'manifests/conf/web.conf': 'greeting bonjour, a longer line than before\n' });
    await agent.stop();
    const before = await containerIds();
    const serialBefore = await serial();
    agent = await startAgent();
    await deployed(fixed);
    expect(await containerIds()).toEqual(before);
    expect(await serial()).toBe(serialBefore);
    expect((await readdir(workspace())).sort()).toEqual(['api.yaml', 'certificate.yaml', 'conf', 'ssl', 'web.yaml']);
  });
});
