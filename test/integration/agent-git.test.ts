import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import type { Agent } from '../../src/agent.js';
import { apiFetch, cleanupInstance, containersOf, eventually, startTestAgent, testInstance } from '../helpers/docker.js';
import { ManifestsRemote } from '../helpers/git-remote.js';
import { doc, idleService, toYaml } from '../helpers/manifests.js';

// Issue 6: a commit pushed to the manifests repository is applied by a running agent, by polling or
// at once through the webhook; a commit that fails validation is reported and not applied.
const instance = testInstance('git');
let remote: ManifestsRemote;
let agent: Agent;
let base: string;
const SECRET = 'webhook-secret-0123456789';

const commit = (message: string, files: Record<string, string>): Promise<string> => remote.commit(message, files);

const status = async () => (await (await apiFetch(agent, '/status')).json()) as { origin: string; manifests: { ok: boolean; errors: string[] }; git: { appliedCommit?: string } };

beforeAll(async () => {
  remote = await ManifestsRemote.create();
  await commit('first', { 'app.yaml': toYaml([doc('Service', 'app', idleService({ env: { V: '1' } }))]) });
  const t = await startTestAgent('/nonexistent', instance, {
    // An hour: within a test only an explicit sync or the webhook can explain a commit being applied.
    git: { url: remote.bare, branch: 'main', pollIntervalMs: 3_600_000, subdir: undefined, credentialsFile: undefined },
    webhookSecret: SECRET,
  });
  agent = t.agent;
  await agent.run();
  base = `http://127.0.0.1:${agent.address!.port}`;
  await eventually('first commit applied', async () => (await containersOf(instance, 'app'))[0]?.State === 'running', 30_000);
});

afterAll(async () => {
  await agent?.stop();
  await cleanupInstance(instance);
  await remote?.remove();
});

describe('manifests from git', () => {
  it('applies a pushed commit at the next fetch (what each poll does) and shows it in /status and /metrics', async () => {
    const sha = await commit('v2', { 'app.yaml': toYaml([doc('Service', 'app', idleService({ env: { V: '2' } }))]) });
    expect((await status()).git.appliedCommit).not.toBe(sha);
    await agent.parts.git!.syncNow();
    await eventually('commit applied', async () => (await status()).git.appliedCommit === sha, 15_000);
    expect((await status()).origin).toBe(`git:${sha}`);
    expect(await (await fetch(`${base}/metrics`)).text()).toContain(`certitrack_git_applied_commit_info{commit="${sha}"} 1`);
    await eventually('app replaced with V=2', async () => agent.parts.controller.isApplied() && agent.notReadyServices().length === 0, 15_000);
  });

  it('reports a commit that fails validation and keeps the previous one applied', async () => {
    const good = (await status()).git.appliedCommit;
    const before = (await containersOf(instance, 'app'))[0]!.Id;
    await commit('broken', { 'app.yaml': toYaml([doc('Service', 'app', idleService({ ports: ['nope'] }))]) });
    await agent.parts.git!.syncNow();
    await eventually('rejection', async () => (await status()).manifests.ok === false, 15_000);
    const s = await status();
    expect(s.manifests.errors.join('\n')).toMatch(/^app\.yaml:\d+:\d+: spec\.ports\[0\]/m);
    expect(s.git.appliedCommit).toBe(good);
    expect((await containersOf(instance, 'app'))[0]!.Id).toBe(before);
  });

  it('applies at once when the webhook is called, and refuses a bad signature', async () => {
    const sha = await commit('v3', { 'app.yaml': toYaml([doc('Service', 'app', idleService({ env: { V: '3' } }))]) });
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const bad = await fetch(`${base}/hooks/git`, { method: 'POST', body, headers: { 'x-hub-signature-256': 'sha256=' + '0'.repeat(64) } });
    expect(bad.status).toBe(401);
    const sig = 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex');
    const ok = await fetch(`${base}/hooks/git`, { method: 'POST', body, headers: { 'x-hub-signature-256': sig, 'content-type': 'application/json' } });
    expect(ok.status).toBe(202);
    // The poll is an hour away: only the webhook can have fetched it.
    await eventually('webhook commit applied', async () => (await status()).git.appliedCommit === sha, 10_000, 50);
  });
});
