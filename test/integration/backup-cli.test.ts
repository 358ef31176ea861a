import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent.js';
import { runCli } from '../helpers/cli.js';
import { apiFetch, cleanupInstance, docker, eventually, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';
import { writeManifest } from '../helpers/manifests.js';

// Issue 3 end to end through the CLI, as an operator would: `backup run` in the running agent (with
// progress), `backup list`, then a dropped table brought back by `restore --yes`, on real PostgreSQL.
const instance = testInstance('bkcli');
let dir: string;
let stateDir: string;
let agent: Agent;
const HELPER = 'certitrack-test/busybox:latest';

async function psql(sql: string): Promise<string> {
  const exec = await docker.getContainer(`${instance}-db`).exec({ Cmd: ['psql', '-U', 'app', '-d', 'appdb', '-At', '-c', sql], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve());
  });
  // Strip Docker's 8-byte frame headers.
  const out: Buffer[] = [];
  let buf = Buffer.concat(chunks);
  while (buf.length >= 8) {
    const size = buf.readUInt32BE(4);
    out.push(buf.subarray(8, 8 + size));
    buf = buf.subarray(8 + size);
  }
  return Buffer.concat(out).toString().trim();
}

const cli = (args: string[]) => runCli([...args], { CERTITRACK_HELPER_IMAGE: HELPER });

beforeAll(async () => {
  dir = await tempDir('manifests');
  stateDir = await tempDir('state');
  await writeManifest(dir, 'stack.yaml', `apiVersion: certitrack.io/v1
kind: Service
metadata: { name: db }
spec:
  image: certitrack-test/postgres:latest
  pullPolicy: Never
  env: { POSTGRES_USER: app, POSTGRES_PASSWORD: secret-pw-123, POSTGRES_DB: appdb }
  healthcheck: { command: ["pg_isready", "-h", "127.0.0.1", "-U", "app", "-d", "appdb"], interval: 1s, retries: 30 }
---
apiVersion: certitrack.io/v1
kind: Backup
metadata: { name: nightly }
spec:
  schedule: "0 2 * * *"
  timeZone: Europe/Madrid
  sources: [{ postgres: { service: db, database: appdb, user: app } }]
  retention: { keepDaily: 7 }
`);
  const t = await startTestAgent(dir, instance, { stateDir, helperImage: HELPER });
  agent = t.agent;
  await agent.run();
  await eventually('db healthy', () => agent.notReadyServices().length === 0, 90_000, 250);
  await psql('CREATE TABLE certs (id int primary key, name text); INSERT INTO certs SELECT g, md5(g::text) FROM generate_series(1, 2000) g;');
});

afterAll(async () => {
  await agent?.stop();
  await cleanupInstance(instance);
  await removeDir(dir);
  await removeDir(stateDir);
});

describe('backups from the CLI', () => {
  let id = '';

  it('backup run streams the database through the running agent and reports it', async () => {
    const r = await cli(['backup', 'run', 'nightly', '--state-dir', stateDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/backup (\S+) complete: .* in .*\/s\)/);
    id = /backup (\S+) complete/.exec(r.stdout)![1]!;
    // The agent recorded the run in its own history: /status shows it.
    const status = (await (await apiFetch(agent, '/status')).json()) as { resources: { kind: string; name: string; details: Record<string, unknown> }[] };
    expect(JSON.stringify(status.resources.find((x) => x.kind === 'Backup'))).toContain(id);
  });

  it('backup list shows it with its retention verdict, and verify checks it', async () => {
    const list = await cli(['backup', 'list', 'nightly', '-m', dir, '--state-dir', stateDir, '--instance', instance]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(id);
    expect(list.stdout).toMatch(/keep/);
    const verify = await cli(['backup', 'verify', 'nightly', '-m', dir, '--state-dir', stateDir, '--instance', instance]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain(`backup ${id}: verified`);
  });

  it('restore refuses without confirmation, and with --yes brings a dropped table back', async () => {
    await psql('DROP TABLE certs;');
    const refused = await cli(['restore', 'nightly', id, '-m', dir, '--state-dir', stateDir, '--instance', instance]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/refusing without confirmation: pass --yes/);
    const r = await cli(['restore', 'nightly', id, '-m', dir, '--state-dir', stateDir, '--instance', instance, '--yes']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await psql('SELECT count(*), sum(id) FROM certs;')).toBe('2000|2001000');
  });
});
