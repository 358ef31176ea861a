import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerClients, type ContainerCreateOptions, type DockerClients } from '../../src/adapters/docker/index.js';
import type { Agent } from '../../src/agent.js';
import { configFrom, type AgentConfig } from '../../src/config.js';
import { buildBackupTooling, runStandaloneBackup } from '../../src/main.js';
import { ROOT } from '../helpers/cli.js';
import { cleanupInstance, eventually, LogCapture, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';
import { writeManifest } from '../helpers/manifests.js';
import { type RunningS3rver, startS3rver } from '../helpers/s3rver-server.js';

// Issue 15 items 3 and 4: PostgreSQL over the network (the RDS path). On the host, pg_dump runs in a
// one-off container of the agent's image on the declared network; in the agent's own image
// (`backup run --standalone`, what the Kubernetes CronJob runs) it runs in the agent's process.
// Both back up the real PostgreSQL container over its network into s3rver and restore the same rows.
const IMAGE = process.env.CERTITRACK_TEST_AGENT_IMAGE ?? 'certitrack-agent:latest';
const PASSWORD = 'pg-net-secret-7f3a';
const instance = testInstance('bkpgnet');
const engine = new Dockerode({ socketPath: '/var/run/docker.sock' });
let dir: string;
let stateDir: string;
let agent: Agent;
let s3: RunningS3rver;

/** The engine's clients, recording every container the code under test creates. */
function recording(created: ContainerCreateOptions[]): DockerClients {
  const inner = dockerClients(engine);
  return { ...inner, containers: new Proxy(inner.containers, { get: (t, p) => (p === 'create' ? (o: ContainerCreateOptions) => (created.push(o), t.create(o)) : Reflect.get(t, p)) }) };
}

async function psql(sql: string, db = 'appdb'): Promise<string> {
  const res = await dockerClients(engine).containers.exec(`${instance}-db`, ['psql', '-v', 'ON_ERROR_STOP=1', '-U', 'app', '-d', db, '-tAc', sql]);
  if (res.exitCode !== 0) throw new Error(`${sql}: ${res.outputTail}`);
  return res.outputTail.trim();
}
const rowsDigest = (): Promise<string> => psql("SELECT count(*) || ':' || md5(string_agg(id || name, ',' ORDER BY id)) FROM certs");

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  dir = await tempDir('pgnet');
  stateDir = await tempDir('state');
  s3 = await startS3rver(['backups']);
  await writeFile(join(dir, 'secrets.env'), `DB_PASSWORD=${PASSWORD}\n`, { mode: 0o600 });
  await writeManifest(dir, 'stack.yaml', `apiVersion: certitrack.io/v1
kind: Network
metadata: { name: net }
---
apiVersion: certitrack.io/v1
kind: Service
metadata: { name: db }
spec:
  image: certitrack-test/postgres:latest
  pullPolicy: Never
  networks: [net]
  env: { POSTGRES_USER: app, POSTGRES_PASSWORD: { secretRef: DB_PASSWORD }, POSTGRES_DB: appdb }
  healthcheck: { command: ["pg_isready", "-h", "127.0.0.1", "-U", "app", "-d", "appdb"], interval: 1s, retries: 60 }
---
apiVersion: certitrack.io/v1
kind: Backup
metadata: { name: rds }
spec:
  sources: [{ postgres: { host: db, database: appdb, user: app, password: { secretRef: DB_PASSWORD }, network: net, sslmode: disable } }]
  destination: { s3: { bucket: backups, prefix: host, endpoint: "${s3.endpoint}", forcePathStyle: true } }
`);
  const t = await startTestAgent(dir, instance, { stateDir, secretsFile: join(dir, 'secrets.env') });
  agent = t.agent;
  await agent.run();
  await eventually('db healthy', async () => agent.notReadyServices().length === 0 && (await engine.getContainer(`${instance}-db`).inspect().catch(() => undefined))?.State.Health?.Status === 'healthy', 90_000, 250).catch((err: Error) => {
    throw new Error(`${err.message}\n${t.logs.text().slice(-3000)}`);
  });
  await eventually('appdb reachable', () => psql('SELECT 1').then(() => true), 30_000, 250);
  await psql("CREATE TABLE certs (id int PRIMARY KEY, name text NOT NULL); INSERT INTO certs SELECT g, 'cert-' || md5(g::text) FROM generate_series(1, 3000) g");
}, 150_000);

afterAll(async () => {
  await agent?.stop();
  await cleanupInstance(instance);
  await s3?.stop();
  await removeDir(dir);
  await removeDir(stateDir);
});

describe('PostgreSQL sources over the network', () => {
  it('on the host: pg_dump in a one-off container of the agent image on the declared network, the password never in its configuration; restored rows identical', async () => {
    const config: AgentConfig = { ...configFrom({ manifestsDir: dir, stateDir, instance, secretsFile: join(dir, 'secrets.env') }) };
    const created: ContainerCreateOptions[] = [];
    const before = await rowsDigest();
    const logs = new LogCapture();
    const run = await runStandaloneBackup(config, 'rds', { docker: recording(created), log: logs.logger });
    expect(run.record.succeeded, run.record.outputTail).toBe(true);
    expect(run.outcome?.manifest.pgDumpVersion).toMatch(/pg_dump \(PostgreSQL\) 15/);
    expect(run.outcome?.manifest.objects[0]?.source).toMatchObject({ type: 'postgres', host: 'db', port: 5432, database: 'appdb' });
    const pg = created.find((c) => c.name?.includes('backup-pg-'));
    expect(pg).toMatchObject({ Image: expect.stringMatching(/^certitrack-agent:/), HostConfig: { NetworkMode: `${instance}-net` } });
    expect(JSON.stringify(created)).not.toContain(PASSWORD);
    expect(logs.text()).not.toContain(PASSWORD);
    // Nothing of the run is left running.
    expect((await engine.listContainers({ all: true, filters: { label: [`io.certitrack.instance=${instance}`, 'io.certitrack.job=Backup/rds'] } })).length).toBe(0);

    await psql('DROP TABLE certs');
    const catalog = await buildBackupTooling(config, { docker: recording(created) });
    const res = await catalog.restore('rds', run.outcome?.id as string);
    expect(res.restored[0]?.target).toBe('database appdb (db:5432)');
    expect(await rowsDigest()).toBe(before);
  }, 120_000);

  it(`in the agent's image (${IMAGE}): backup run --standalone into s3rver over the network, then restore, with identical rows`, async () => {
    const net = `${instance}-net`;
    const s3Name = `${instance}-s3`;
    const label = ['--label', `io.certitrack.instance=${instance}`];
    // s3rver in a container of the same network (the package from this checkout, on the image's node).
    execFileSync('docker', ['run', '-d', '--name', s3Name, ...label, '--network', net, '-v', `${join(ROOT, 'node_modules')}:/s3/node_modules:ro`, '--entrypoint', 'node', IMAGE, '-e',
      "new (require('/s3/node_modules/s3rver'))({ address: '0.0.0.0', port: 4568, silent: true, directory: '/tmp/s3', vhostBuckets: false, configureBuckets: [{ name: 'backups', configs: [] }] }).run().then(() => console.log('up'))"]);
    await eventually('s3rver up', () => execFileSync('docker', ['logs', s3Name], { encoding: 'utf8' }).includes('up'), 30_000, 200);

    const pod = join(dir, 'pod');
    await mkdir(join(pod, 'manifests'), { recursive: true });
    await writeManifest(join(pod, 'manifests'), 'backup.yaml', `apiVersion: certitrack.io/v1
kind: Backup
metadata: { name: rds }
spec:
  sources: [{ postgres: { host: db, port: 5432, database: appdb, user: app, password: { secretRef: DB_PASSWORD } } }]
  destination: { s3: { bucket: backups, prefix: pod, endpoint: "http://${s3Name}:4568", forcePathStyle: true, region: us-east-1 } }
  retention: { keepLast: 2 }
`);
    await writeFile(join(pod, 'policy.yaml'), `allowedEndpoints: ["http://${s3Name}:4568"]\nsecretEnv: [DB_PASSWORD]\n`);
    await chmod(join(pod, 'policy.yaml'), 0o644);
    const agentRun = (args: string[]): { code: number; stdout: string; stderr: string } => {
      const argv = ['run', '--rm', ...label, '--network', net, '-v', `${join(pod, 'manifests')}:/etc/certitrack-agent/manifests:ro`, '-v', `${join(pod, 'policy.yaml')}:/etc/certitrack-agent/policy.yaml:ro`,
        '-e', `DB_PASSWORD=${PASSWORD}`, '-e', 'AWS_ACCESS_KEY_ID=S3RVER', '-e', 'AWS_SECRET_ACCESS_KEY=S3RVER', IMAGE, ...args, '-m', '/etc/certitrack-agent/manifests', '--policy', '/etc/certitrack-agent/policy.yaml'];
      try {
        return { code: 0, stdout: execFileSync('docker', argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), stderr: '' };
      } catch (err) {
        const e = err as { status: number; stdout: string; stderr: string };
        return { code: e.status, stdout: e.stdout, stderr: e.stderr };
      }
    };
    const before = await rowsDigest();
    const backup = agentRun(['backup', 'run', 'rds', '--standalone']);
    expect(backup.code, backup.stdout + backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/backup (\S+) complete: /);
    expect(backup.stdout + backup.stderr).not.toContain(PASSWORD);
    const id = /backup (\S+) complete/.exec(backup.stdout)?.[1] as string;
    expect(backup.stdout).toMatch(/retention: kept 1, deleted 0/);

    await psql('DROP TABLE certs');
    const restore = agentRun(['restore', 'rds', id, '--yes']);
    expect(restore.code, restore.stdout + restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/01-postgres-appdb\.dump\s+database appdb \(db:5432\)/);
    expect(await rowsDigest()).toBe(before);

    // A failing run exits 1 and says which side failed and why.
    const file = join(pod, 'manifests', 'backup.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('database: appdb', 'database: nope'));
    const failed = agentRun(['backup', 'run', 'rds', '--standalone']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/backup rds FAILED after .*: dump failed: 01-postgres-nope\.dump: pg_dump exited with code 1: .*database "nope" does not exist/s);
  }, 180_000);
});
