import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent.js';
import { runCli } from '../helpers/cli.js';
import { cleanupInstance, eventually, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';
import { doc, idleService, writeManifest } from '../helpers/manifests.js';

// `certitrack-agent run-now` and `status` talk to a running agent through its root-only socket in the state dir.
const instance = testInstance('runnow');
let dir: string;
let agent: Agent;
let stateDir: string;

beforeAll(async () => {
  dir = await tempDir('manifests');
  await writeManifest(dir, 'stack.yaml', [
    doc('Service', 'app', idleService()),
    doc('Schedule', 'hello', { schedule: '0 3 * * *', timeZone: 'Europe/Madrid', exec: { service: 'app', command: 'echo hello from $(hostname)' } }),
    doc('Schedule', 'broken', { schedule: '@daily', exec: { service: 'app', command: 'echo oops >&2; exit 4' } }),
  ]);
  const t = await startTestAgent(dir, instance);
  agent = t.agent;
  await agent.run();
  stateDir = t.stateDir;
  await eventually('app ready', () => agent.notReadyServices().length === 0);
});

afterAll(async () => {
  await agent?.stop();
  await cleanupInstance(instance);
  await removeDir(dir);
  await removeDir(stateDir);
});

describe('CLI against a running agent', () => {
  it('run-now runs a schedule inside the agent and exits 0 on success', async () => {
    const r = await runCli(['run-now', 'Schedule/hello', '--state-dir', stateDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Schedule\/hello: succeeded \(exit 0\)\nhello from /);
  });

  it('run-now exits 1 with the output tail when the job fails, and for unknown names', async () => {
    const r = await runCli(['run-now', 'Schedule/broken', '--state-dir', stateDir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAILED \(exit 4\)\noops/);
    const unknown = await runCli(['run-now', 'Schedule/nope', '--state-dir', stateDir]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/error: .*nope/);
  });

  it('status prints the table and -o json the document', async () => {
    const table = await runCli(['status', '--state-dir', stateDir]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/Service\s+app\s+True\s+Running/);
    expect(table.stdout).toMatch(/Schedule\s+hello/);
    const json = JSON.parse((await runCli(['status', '--state-dir', stateDir, '-o', 'json'])).stdout) as { resources: { kind: string }[] };
    expect(json.resources.map((r) => r.kind)).toContain('Schedule');
  });

  it('over TCP the same command needs the API token, which root reads from the state dir', async () => {
    const listen = `127.0.0.1:${agent.address!.port}`;
    const withToken = await runCli(['status', '--listen', listen, '--state-dir', stateDir]);
    expect(withToken.code).toBe(0);
    expect(withToken.stdout).toMatch(/Service\s+app\s+True/);
    const without = await runCli(['status', '--listen', listen, '--token-file', join(stateDir, 'no-such-token')]);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/refused: no API token could be read from .*no-such-token/);
  });

  it('refuses to talk to an agent of another instance', async () => {
    const r = await runCli(['status', '--state-dir', stateDir, '--instance', 'someone-else']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`is agent instance "${instance}", not "someone-else"`);
  });

  it('status exits 1 with a clear message when no agent listens', async () => {
    const r = await runCli(['status', '--listen', '127.0.0.1:1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach the agent at http:\/\/127\.0\.0\.1:1/);
  });
});
