import { AWS_RETRY } from '../../src/aws/context.js';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import Dockerode from 'dockerode';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_SERVICE, LABEL_VOLUME, MANAGED_BY_VALUE } from '../../src/adapters/docker-types.js';
import { dockerClients } from '../../src/adapters/docker/index.js';
import { LocalDestination } from '../../src/adapters/local-destination.js';
import { PassThrough } from 'node:stream';
import { backupListCommand, backupRunCommand, backupVerifyCommand, restoreCommand } from '../../src/cli/backup-commands.js';
import { createS3Client, S3Destination } from '../../src/adapters/s3-destination.js';
import { BackupCatalog } from '../../src/backup/backup-catalog.js';
import { type DestinationFactory, destinationFactory } from '../../src/backup/destination-factory.js';
import type { DesiredState } from '../../src/manifests/desired-state.js';
import { loadManifests } from '../../src/manifests/load.js';
import { DEFAULT_POLICY, hostRules } from '../../src/manifests/host-policy.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { secretScrubber } from '../../src/log.js';
import { Ownership } from '../../src/reconcilers/ownership.js';
import { BackupReconciler, type BackupReconcilerOptions } from '../../src/reconcilers/backup/backup-reconciler.js';
import { JobRunner } from '../../src/schedule/job-runner.js';
import { RunHistory } from '../../src/schedule/run-history.js';
import { DurableState } from '../../src/state/durable-state.js';
import { StatusBoard } from '../../src/state/status-board.js';
import { reconcileOnce, type StepContext } from '../helpers/reconcile.js';
import { type RunningS3rver, startS3rver } from '../helpers/s3rver-server.js';

const INSTANCE = `bkit-${randomBytes(3).toString('hex')}`;
const docker = new Dockerode();
const adapter = dockerClients(docker);
const secrets = new StaticSecrets({ DB_PASSWORD: 'pg-secret-pw-1' });
const log = pino({ level: 'silent' });
const ROWS = 5000;

let work: string;
let s3: RunningS3rver;
let desired: DesiredState;
let state: DurableState;
let history: RunHistory;
let registry: Registry;
let runner: JobRunner;
let filesDir: string;
let localBackups: string;
const dbContainer = `${INSTANCE}-db`;
const volumeName = `${INSTANCE}-files`;

async function sh(container: string, script: string): Promise<string> {
  const res = await adapter.containers.exec(container, ['sh', '-c', script]);
  if (res.exitCode !== 0) throw new Error(`${script}: exit ${res.exitCode}: ${res.outputTail}`);
  return res.outputTail.trim();
}
const psql = (sql: string, db = 'appdb'): Promise<string> => sh(dbContainer, `psql -v ON_ERROR_STOP=1 -U app -d ${db} -tAc "${sql}"`);
const rowsDigest = (): Promise<string> => psql("SELECT count(*) || ':' || md5(string_agg(id || name, ',' ORDER BY id)) FROM certs");

const HELPER = 'certitrack-test/busybox:latest';
const jobCtx = { status: new StatusBoard(undefined), log };

/** The reconciler and the catalog, over the same destinations (the real factory unless a test wraps it). */
function tools(extra: Partial<BackupReconcilerOptions> = {}): { r: BackupReconciler; catalog: BackupCatalog } {
  const destinations: DestinationFactory = extra.destinations ?? destinationFactory({ localDir: localBackups, s3: { region: 'us-east-1', ...AWS_RETRY } });
  const r = new BackupReconciler(adapter, history, runner, registry, {
    instance: INSTANCE,
    secrets,
    state,
    agentVersion: '0.1.0-test',
    helperImage: HELPER,
    ...extra,
    destinations,
  });
  const catalog = new BackupCatalog({
    desired: () => desired,
    destinations,
    sources: { docker: adapter, own: new Ownership(INSTANCE), secrets, helperImage: HELPER },
    instance: INSTANCE,
    isRunning: (key) => runner.isRunning(key),
    scrub: secretScrubber(() => secrets.values()),
    now: () => new Date(),
    log,
  });
  return { r, catalog };
}

const manifests = (endpoint: string, dir: string): string => `
apiVersion: certitrack.io/v1
kind: Service
metadata: { name: db }
spec: { image: certitrack-test/postgres:latest }
---
apiVersion: certitrack.io/v1
kind: Volume
metadata: { name: files }
---
apiVersion: certitrack.io/v1
kind: Backup
metadata: { name: db-s3 }
spec:
  sources: [{ postgres: { service: db, database: appdb, user: app, password: { secretRef: DB_PASSWORD } } }]
  destination: { s3: { bucket: backups, prefix: prod, endpoint: "${endpoint}", forcePathStyle: true } }
---
apiVersion: certitrack.io/v1
kind: Backup
metadata: { name: db-local }
spec:
  sources: [{ postgres: { service: db, database: appdb, user: app } }]
  destination: { local: { path: "${dir}/local-dest" } }
---
apiVersion: certitrack.io/v1
kind: Backup
metadata: { name: files }
spec:
  sources:
    - directory: { path: "${dir}/files", exclude: ["*.tmp"] }
    - volume: { name: files }
    - file: { path: "${dir}/files/.env" }
---
apiVersion: certitrack.io/v1
kind: Backup
metadata: { name: wrong-db }
spec:
  schedule: "* * * * *"
  sources: [{ postgres: { service: db, database: nope, user: app } }]
  destination: { local: { path: "${dir}/local-dest" } }
---
apiVersion: certitrack.io/v1
kind: Backup
metadata: { name: pruned }
spec:
  sources: [{ file: { path: "${dir}/files/.env" } }]
  destination: { local: { path: "${dir}/pruned-dest" } }
  retention: { keepLast: 2 }
---
apiVersion: certitrack.io/v1
kind: Backup
metadata: { name: db-fault }
spec:
  sources: [{ postgres: { service: db, database: appdb, user: app } }]
  destination: { s3: { bucket: fault, endpoint: "${endpoint}", forcePathStyle: true } }
`;

async function cleanup(): Promise<void> {
  for (const c of await adapter.containers.list({ [LABEL_INSTANCE]: INSTANCE })) await adapter.containers.remove(c.id);
  await docker.getVolume(volumeName).remove().catch(() => undefined);
}

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  work = await mkdtemp(join(tmpdir(), 'backup-it-'));
  localBackups = join(work, 'default-dest');
  filesDir = join(work, 'files');
  s3 = await startS3rver(['backups', 'fault']);

  const labels = { [LABEL_MANAGED_BY]: MANAGED_BY_VALUE, [LABEL_INSTANCE]: INSTANCE };
  const id = await adapter.containers.create({
    name: dbContainer,
    Image: 'certitrack-test/postgres:latest',
    Env: ['POSTGRES_USER=app', 'POSTGRES_PASSWORD=pg-secret-pw-1', 'POSTGRES_DB=appdb'],
    Labels: { ...labels, [LABEL_SERVICE]: 'db' },
  });
  await adapter.containers.start(id);
  await adapter.volumes.create(volumeName, { ...labels, [LABEL_VOLUME]: 'files' });

  await mkdir(join(filesDir, 'documents', 'nested'), { recursive: true });
  await writeFile(join(filesDir, 'documents', 'a.pdf'), randomBytes(300_000));
  await writeFile(join(filesDir, 'documents', 'nested', 'b.txt'), 'hello\n');
  await writeFile(join(filesDir, 'documents', 'scratch.tmp'), 'excluded');
  await symlink('a.pdf', join(filesDir, 'documents', 'link.pdf'));
  await writeFile(join(filesDir, '.env'), 'DB_PASSWORD=pg-secret-pw-1\n');

  const mdir = join(work, 'manifests');
  await mkdir(mdir);
  await writeFile(join(mdir, 'stack.yaml'), manifests(s3.endpoint, work));
  // The sources and destinations live beside the folder: the host policy allows that root.
  const loaded = await loadManifests(mdir, { secrets, rules: hostRules({ ...DEFAULT_POLICY, allowedRoots: [work] }) });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  desired = loaded.state;

  state = await DurableState.open(join(work, 'state'));
  history = new RunHistory(state);
  registry = new Registry();
  runner = new JobRunner(history, registry);

  for (let i = 0; ; i++) {
    const res = await adapter.containers.exec(dbContainer, ['pg_isready', '-U', 'app', '-d', 'appdb']);
    if (res.exitCode === 0) break;
    if (i > 100) throw new Error('postgres did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  // pg_isready answers during the init script's private start; wait for the real server.
  for (let i = 0; ; i++) {
    const ok = await psql('SELECT 1').then(() => true, () => false);
    if (ok) break;
    if (i > 100) throw new Error('appdb is not reachable');
    await new Promise((r) => setTimeout(r, 200));
  }
  await psql(`CREATE TABLE certs (id int PRIMARY KEY, name text NOT NULL); INSERT INTO certs SELECT g, 'cert-' || md5(g::text) FROM generate_series(1, ${ROWS}) g`);
  await sh(
    (await adapter.containers.create({ Image: 'certitrack-test/busybox:latest', Cmd: ['sleep', '600'], Labels: labels, HostConfig: { Binds: [`${volumeName}:/data`] } }).then(async (c) => {
      await adapter.containers.start(c);
      return c;
    })),
    'mkdir -p /data/sub && echo one > /data/one.txt && echo two > /data/sub/two.txt && chmod 640 /data/one.txt',
  );
}, 90_000);

afterAll(async () => {
  await runner?.idle();
  await cleanup();
  await s3?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('Backup against real PostgreSQL', () => {
  it('backs up to s3rver, survives a dropped database, restores the same rows', async () => {
    const before = await rowsDigest();
    expect(before.startsWith(`${ROWS}:`)).toBe(true);
    const { r, catalog } = tools();
    const progress: number[] = [];
    const run = await r.runNow('db-s3', desired, jobCtx, (p) => progress.push(p.storedBytes));
    expect(run.record.succeeded, run.record.outputTail).toBe(true);
    const manifest = run.outcome?.manifest;
    expect(manifest?.pgDumpVersion).toMatch(/pg_dump \(PostgreSQL\) 15/);
    expect(manifest?.objects).toHaveLength(1);
    expect(manifest?.objects[0]?.name).toBe('01-postgres-appdb.dump');
    expect(manifest?.objects[0]?.compression).toBe('none');
    // Secrets never reach the run record.
    expect(JSON.stringify(history.list('Backup/db-s3'))).not.toContain('pg-secret-pw-1');

    const listing = await catalog.list('db-s3');
    expect(listing.backups.map((b) => [b.id, b.complete])).toEqual([[run.outcome?.id, true]]);
    expect(listing.backups[0]?.objects.map((o) => o.key.replace(/\/[^/]+\/(?=[^/]+$)/, '/ID/'))).toEqual(['prod/db-s3/ID/01-postgres-appdb.dump', 'prod/db-s3/ID/manifest.json']);

    await psql('DROP DATABASE appdb WITH (FORCE)', 'postgres');
    await expect(rowsDigest()).rejects.toThrow(/does not exist/);
    const restored = await catalog.restore('db-s3', run.outcome?.id as string);
    expect(restored.restored[0]?.target).toMatch(/database appdb/);
    expect(await rowsDigest()).toBe(before);

    const metrics = await registry.metrics();
    expect(metrics).toMatch(/certitrack_job_last_success_timestamp_seconds\{kind="Backup",backup="db-s3"\} [1-9]\d*/);
    expect(metrics).toMatch(/certitrack_backup_age_seconds\{backup="db-s3"\} \d/);
    expect(metrics).toMatch(/certitrack_backup_size_bytes\{backup="db-s3"\} [1-9]\d*/);
  }, 60_000);

  it('backs up to a local directory; verify passes, then detects a corrupted object and restore refuses it', async () => {
    const { r, catalog } = tools();
    const run = await r.runNow('db-local', desired, jobCtx);
    expect(run.record.succeeded, run.record.outputTail).toBe(true);
    const id = run.outcome?.id as string;
    const ok = await catalog.verify('db-local');
    expect(ok).toMatchObject({ id, ok: true });
    const text = async (fn: (out: PassThrough) => Promise<number>): Promise<[number, string]> => {
      const out = new PassThrough();
      let buf = '';
      out.on('data', (c: Buffer) => (buf += c.toString()));
      const code = await fn(out);
      return [code, buf];
    };
    const [listCode, listed] = await text((out) => backupListCommand(catalog, 'db-local', out));
    expect(listCode).toBe(0);
    expect(listed).toMatch(new RegExp(`ID\\s+CREATED\\s+STATUS\\s+SIZE\\s+OBJECTS\\s+RETENTION\\n${id}\\s+\\S+\\s+complete\\s+[\\d.]+ KiB\\s+2\\s+keep \\(no policy\\)`));
    expect((await text((out) => backupVerifyCommand(catalog, 'db-local', id, out)))[1]).toMatch(/01-postgres-appdb\.dump .* ok\n.*verified/s);
    expect(await text((out) => restoreCommand(catalog, 'db-local', id, out, { yes: false }))).toEqual([1, expect.stringMatching(/pass --yes/)]);
    const [runCode, runOut] = await text((out) => backupRunCommand((onProgress) => r.runNow('db-local', desired, jobCtx, onProgress), 'db-local', out));
    expect(runCode).toBe(0);
    expect(runOut).toMatch(/OBJECT\s+SOURCE\s+READ\s+STORED\s+SHA256\n01-postgres-appdb\.dump\s+postgres/);

    const file = join(work, 'local-dest', 'db-local', id, '01-postgres-appdb.dump');
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] as number) ^ 0xff;
    await writeFile(file, bytes);
    const bad = await catalog.verify('db-local', id);
    expect(bad.ok).toBe(false);
    expect(bad.objects[0]?.problem).toMatch(/sha256/);

    await psql("UPDATE certs SET name = 'changed' WHERE id = 1");
    await expect(catalog.restore('db-local', id)).rejects.toThrow(/failed verification; nothing was restored/);
    expect(await psql('SELECT name FROM certs WHERE id = 1')).toBe('changed');
  }, 60_000);

  it('round-trips a directory (with exclusions and a symlink), a named volume and a config file', async () => {
    const { r, catalog } = tools();
    const run = await r.runNow('files', desired, jobCtx);
    expect(run.record.succeeded, run.record.outputTail).toBe(true);
    const names = run.outcome?.manifest.objects.map((o) => o.name);
    expect(names).toEqual(['01-directory-files.tar.gz', '02-volume-files.tar.gz', '03-file-env.gz']);
    const original = await readFile(join(filesDir, 'documents', 'a.pdf'));

    await rm(join(filesDir, 'documents'), { recursive: true });
    await writeFile(join(filesDir, '.env'), 'BROKEN\n');
    const helper = (await adapter.containers.list({ [LABEL_INSTANCE]: INSTANCE })).find((c) => c.name !== dbContainer && c.state === 'running');
    await sh(helper?.id as string, 'rm -rf /data/one.txt /data/sub');

    await catalog.restore('files', run.outcome?.id as string);
    expect(await readFile(join(filesDir, 'documents', 'a.pdf'))).toEqual(original);
    expect(await readFile(join(filesDir, 'documents', 'nested', 'b.txt'), 'utf8')).toBe('hello\n');
    expect((await stat(join(filesDir, 'documents', 'link.pdf'))).isFile()).toBe(true);
    expect(await readdir(join(filesDir, 'documents'))).not.toContain('scratch.tmp');
    expect(await readFile(join(filesDir, '.env'), 'utf8')).toBe('DB_PASSWORD=pg-secret-pw-1\n');
    expect(await sh(helper?.id as string, 'cat /data/one.txt /data/sub/two.txt && stat -c %a /data/one.txt')).toBe('one\ntwo\n640');
    // Helper containers are gone once each run or restore is over.
    const left = (await adapter.containers.list({ [LABEL_INSTANCE]: INSTANCE })).filter((c) => c.labels['io.certitrack.job']);
    expect(left).toEqual([]);
  }, 60_000);

  it('a failing pg_dump fails the run naming the dump step with its stderr, and a scheduled failure is retried with backoff', async () => {
    const { r } = tools({ retry: { baseMs: 60_000, maxMs: 3_600_000 } });
    const status = new StatusBoard(undefined);
    let now = new Date('2026-11-27T02:00:30Z');
    const ctx = (): StepContext => ({ desired, now: () => now, status });
    const first = await reconcileOnce(r, 'wrong-db', ctx());
    expect(first.requeueAfterMs).toBeLessThanOrEqual(60_000);
    now = new Date('2026-11-27T02:01:05Z');
    await reconcileOnce(r, 'wrong-db', ctx());
    await runner.idle('Backup/wrong-db');
    const rec = history.lastFinished('Backup/wrong-db');
    expect(rec?.succeeded).toBe(false);
    expect(rec?.outputTail).toMatch(/^dump failed: 01-postgres-nope\.dump: pg_dump exited with code 1: .*database "nope" does not exist/s);
    expect(await registry.getSingleMetricAsString('certitrack_backup_failures_total')).toMatch(/backup="wrong-db",step="dump"\} 1/);

    const again = await reconcileOnce(r, 'wrong-db', ctx());
    const details = status.get('Backup/wrong-db')?.details as { retry?: { attempt: number; step: string; nextAt: string } };
    expect(details.retry).toMatchObject({ attempt: 1, step: 'dump' });
    expect(again.requeueAfterMs).toBeLessThanOrEqual(60_000 + 250);
    expect(status.get('Backup/wrong-db')?.conditions.find((c) => c.type === 'LastBackupSucceeded')).toMatchObject({ status: 'False', message: expect.stringMatching(/^dump failed/) });
    // Nothing at all was written for the failed run, so there is no manifest.
    expect((await new LocalDestination(join(work, 'local-dest')).list('wrong-db/')).filter((o) => o.key.endsWith('manifest.json'))).toEqual([]);
  }, 60_000);

  it('S3 failing mid-upload leaves no manifest.json and deletes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 's3-fault-'));
    let flaky = await startS3rver(['fault'], { directory: dir });
    const client = () => createS3Client({ endpoint: flaky.endpoint });
    let failNext = false;
    // The real S3 destination; for the failing run, the server is stopped once 32 KiB have gone through.
    const destinations: DestinationFactory = () => {
      const inner = new S3Destination(client(), { bucket: 'fault' });
      return {
        prefix: '',
        destination: {
          description: inner.description,
          list: (p) => inner.list(p),
          get: (k) => inner.get(k),
          delete: (k) => inner.delete(k),
          put: (key, body, o) => {
            if (!failNext) return inner.put(key, body, o);
            let seen = 0;
            const tap = new Transform({
              transform(chunk: Buffer, _e, done) {
                seen += chunk.length;
                if (seen > 32 * 1024 && seen - chunk.length <= 32 * 1024) void flaky.stop();
                done(null, chunk);
              },
            });
            body.on('error', (e) => tap.destroy(e));
            return inner.put(key, body.pipe(tap), o);
          },
        },
      };
    };
    try {
      await psql(`CREATE TABLE IF NOT EXISTS bulk AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS pad FROM generate_series(1, 100000) g`);
      const { r, catalog } = tools({ destinations });
      const good = await r.runNow('db-fault', desired, jobCtx);
      expect(good.record.succeeded, good.record.outputTail).toBe(true);

      failNext = true;
      const failed = await r.runNow('db-fault', desired, jobCtx);
      expect(failed.record.succeeded).toBe(false);
      expect(failed.record.outputTail).toMatch(/^upload failed: 01-postgres-appdb\.dump/);

      failNext = false;
      flaky = await startS3rver(['fault'], { directory: dir });
      const after = await catalog.list('db-fault');
      expect(after.backups.filter((b) => b.complete).map((b) => b.id)).toEqual([good.outcome?.id]);
      const keys = (await new S3Destination(client(), { bucket: 'fault' }).list('')).map((o) => o.key);
      expect(keys.filter((k) => k.endsWith('manifest.json'))).toEqual([`db-fault/${good.outcome?.id}/manifest.json`]);
      expect(await catalog.verify('db-fault', good.outcome?.id)).toMatchObject({ ok: true });
    } finally {
      await flaky.stop();
      await rm(dir, { recursive: true, force: true });
      await psql('DROP TABLE IF EXISTS bulk');
    }
  }, 90_000);

  it('retention after a successful backup removes exactly what the policy says, and nothing outside its prefix', async () => {
    const destDir = join(work, 'pruned-dest');
    const dest = new LocalDestination(destDir);
    const put = (key: string, text = 'x') => dest.put(key, Readable.from([Buffer.from(text)]));
    const now = Date.now();
    const id = (msAgo: number, suffix: string) => `${new Date(now - msAgo).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${suffix}`;
    const old1 = id(3 * 86_400_000, 'aaaa');
    const old2 = id(2 * 86_400_000, 'bbbb');
    const staleIncomplete = id(30 * 3_600_000, 'cccc');
    const freshIncomplete = id(3_600_000, 'dddd');
    for (const b of [old1, old2]) {
      await put(`pruned/${b}/01-file-.env.gz`);
      await put(`pruned/${b}/manifest.json`, '{}');
    }
    await put(`pruned/${staleIncomplete}/01-file-.env.gz`);
    await put(`pruned/${freshIncomplete}/01-file-.env.gz`);
    await put('pruned/not-a-backup-id/keep.me');
    await put('other-backup/20200101T000000Z-eeee/manifest.json');

    const { r } = tools();
    const run = await r.runNow('pruned', desired, jobCtx);
    expect(run.record.succeeded, run.record.outputTail).toBe(true);
    const newId = run.outcome?.id as string;
    expect(run.record.outputTail).toMatch(/retention: kept 2, deleted 2/);

    const keys = (await dest.list('')).map((o) => o.key).sort();
    expect(keys).toEqual(
      [
        `pruned/${old2}/01-file-.env.gz`,
        `pruned/${old2}/manifest.json`,
        `pruned/${freshIncomplete}/01-file-.env.gz`,
        `pruned/${newId}/01-file-env.gz`,
        `pruned/${newId}/manifest.json`,
        'pruned/not-a-backup-id/keep.me',
        'other-backup/20200101T000000Z-eeee/manifest.json',
      ].sort(),
    );
  }, 60_000);
});
