import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerClients } from '../../src/adapters/docker/index.js';
import type { Agent } from '../../src/agent.js';
import type { BackupCatalog } from '../../src/backup/backup-catalog.js';
import { RestoreRefusedError } from '../../src/backup/restore-plan.js';
import { backupListCommand, restoreCommand } from '../../src/cli/backup-commands.js';
import { configFrom, type AgentConfig } from '../../src/config.js';
import { buildAgent, buildBackupTooling } from '../../src/main.js';
import type { ManualRunResult } from '../../src/reconcilers/backup/backup-reconciler.js';
import { CallCounter, countHttpRequests, countingClients } from '../../bench/lib/counting.js';
import { apiFetch, cleanupInstance, eventually, LogCapture, removeDir, tempDir, testInstance } from '../helpers/docker.js';
import { writeManifest } from '../helpers/manifests.js';

// Issue 13 items 1-3 on the real engine, with the agent running: restores write only what the spec
// declares and stop (and hold) the Services that mount their target; volumes are read and written
// without pulling any image; a full disk is blamed on the upload and leaves nothing behind.
const instance = testInstance('bkrs');
const calls = new CallCounter();
const http = new CallCounter();
const engine = new Dockerode({ socketPath: '/var/run/docker.sock' });
countHttpRequests(engine, http);
const docker = countingClients(dockerClients(engine), calls);
let dir: string;
let stateDir: string;
let fullDir: string;
let agent: Agent;
let config: AgentConfig;
let catalog: BackupCatalog;

const manifests = `apiVersion: certitrack.io/v1
kind: Volume
metadata: { name: data }
---
apiVersion: certitrack.io/v1
kind: Volume
metadata: { name: big }
---
apiVersion: certitrack.io/v1
kind: Service
metadata: { name: app }
spec:
  image: certitrack-test/busybox:latest
  pullPolicy: Never
  command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
  volumes: ["data:/data"]
  stopGracePeriod: 2s
---
apiVersion: certitrack.io/v1
kind: Backup
metadata: { name: vol }
spec:
  sources:
    - volume: { name: data }
    - directory: { path: ./docs }
  destination: { local: { path: ./dest } }
---
apiVersion: certitrack.io/v1
kind: Backup
metadata: { name: full }
spec:
  sources:
    - directory: { path: ./docs }
    - volume: { name: big }
  compression: { algorithm: none }
  destination: { local: { path: ./full } }
`;

async function sh(service: string, script: string): Promise<string> {
  const c = (await engine.listContainers({ filters: { label: [`io.certitrack.instance=${instance}`, `io.certitrack.service=${service}`] } }))[0];
  if (!c) throw new Error(`${service} has no running container`);
  const res = await docker.containers.exec(c.Id, ['sh', '-c', script]);
  if (res.exitCode !== 0) throw new Error(`${script}: ${res.outputTail}`);
  return res.outputTail.trim();
}
const appContainer = async (): Promise<Dockerode.ContainerInspectInfo> => engine.getContainer(`${instance}-app`).inspect();
/** Every file of the volume with its mode, owner and md5: what "identical" means here. */
const volumeDigest = (): Promise<string> => sh('app', 'cd /data && find . -type f | sort | while read f; do echo "$f $(stat -c %a:%u:%g "$f") $(md5sum < "$f")"; done');

async function backupNow(name: string): Promise<ManualRunResult> {
  const res = await apiFetch(agent, `/v1/trigger/Backup/${name}`, { method: 'POST' });
  return (await res.json()) as ManualRunResult;
}

async function output(fn: (out: PassThrough) => Promise<number>): Promise<{ code: number; text: string }> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const code = await fn(out);
  return { code, text };
}

beforeAll(async () => {
  dir = await tempDir('restore-safety');
  stateDir = await tempDir('state');
  await writeManifest(dir, 'stack.yaml', manifests);
  await mkdir(join(dir, 'docs', 'sub'), { recursive: true });
  await writeFile(join(dir, 'docs', 'a.txt'), 'first\n');
  await writeFile(join(dir, 'docs', 'sub', 'b.txt'), 'second\n');
  // A full disk for the `full` Backup: 8 MiB of tmpfs, with a 20 MiB volume to back up into it.
  fullDir = join(dir, 'full');
  await mkdir(fullDir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', fullDir]);
  config = { ...configFrom({ manifestsDir: dir, stateDir, instance, listen: '127.0.0.1:0' }), resyncMs: 60_000, restartBackoffBaseMs: 1000 };
  expect(config.helperImage).toBeUndefined();
  agent = await buildAgent(config, { log: new LogCapture().logger, docker });
  await agent.run();
  await eventually('app running', async () => (await appContainer()).State.Running, 60_000, 250);
  await sh('app', 'mkdir -p /data/sub && echo one > /data/one.txt && echo two > /data/sub/two.txt && chmod 640 /data/one.txt && chown 1234:99 /data/sub/two.txt');
  const big = await engine.createContainer({ Image: 'certitrack-test/busybox:latest', Cmd: ['sh', '-c', 'head -c 20971520 /dev/urandom > /data/blob'], HostConfig: { Binds: [`${instance}-big:/data`] } });
  await big.start();
  await big.wait();
  await big.remove();
  catalog = await buildBackupTooling(config, { docker });
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  if (fullDir) execFileSync('umount', [fullDir]);
  await cleanupInstance(instance);
  await removeDir(dir);
  await removeDir(stateDir);
});

describe('restores that hold up when something is already wrong', () => {
  let id = '';

  it('backs up a volume without pulling any image, under the id the run is logged with', async () => {
    const pullsBefore = calls.snapshot();
    const httpBefore = http.snapshot();
    const run = await backupNow('vol');
    expect(run.record.succeeded, run.record.outputTail).toBe(true);
    id = run.outcome?.id as string;
    expect(id).toBe(run.record.id);
    expect(Object.keys(calls.since(pullsBefore).byName)).not.toContain('images.pull');
    expect(Object.keys(http.since(httpBefore).byName)).not.toContain('POST /images/create');
    // Read through the archive API of a container that never ran: no exec for volumes.
    expect(http.since(httpBefore).byName['GET /containers/{id}/archive']).toBe(1);
    expect((await catalog.list('vol')).backups.map((b) => [b.id, b.verdict])).toEqual([[id, 'keep']]);
  });

  it('restores a volume while its Service runs: the prompt names it, it is stopped, held and started again, and the data is identical', async () => {
    const before = await volumeDigest();
    const started = (await appContainer()).State.StartedAt;
    await sh('app', 'echo changed > /data/one.txt && rm -rf /data/sub');
    expect(await volumeDigest()).not.toBe(before);

    const asked = await output((out) => restoreCommand(catalog, 'vol', id, out, { yes: false, only: ['volume:data'] }));
    expect(asked.code).toBe(1);
    expect(asked.text).toMatch(new RegExp(`01-volume-data\\.tar\\.gz -> volume ${instance}-data \\(stops and restarts Service app meanwhile\\)`));

    const stops = calls.snapshot();
    const res = await catalog.restore('vol', id, { only: ['volume:data'] });
    expect(res.restored).toEqual([{ name: '01-volume-data.tar.gz', target: `volume ${instance}-data`, bytes: expect.any(Number), restarted: ['app'] }]);
    const during = calls.since(stops).byName;
    expect(during['containers.stop']).toBe(1);
    const after = await appContainer();
    expect(after.State.Running).toBe(true);
    expect(after.State.StartedAt > started).toBe(true);
    expect(await volumeDigest()).toBe(before);
    // The agent started nothing meanwhile: one start, the restore's own.
    expect(during['containers.start']).toBe(1);
  }, 60_000);

  it('--only restores one source and leaves the others as they are', async () => {
    await writeFile(join(dir, 'docs', 'a.txt'), 'edited\n');
    await sh('app', 'echo again > /data/one.txt');
    const res = await catalog.restore('vol', id, { only: ['directory:./docs'] });
    expect(res.restored.map((r) => r.name)).toEqual(['02-directory-docs.tar.gz']);
    expect(await readFile(join(dir, 'docs', 'a.txt'), 'utf8')).toBe('first\n');
    expect(await sh('app', 'cat /data/one.txt')).toBe('again');
  });

  it('a restore that fails part way says what was restored and what was not', async () => {
    await rm(join(dir, 'docs'), { recursive: true });
    await writeFile(join(dir, 'docs'), 'a file where the directory was\n');
    try {
      const r = await output((out) => restoreCommand(catalog, 'vol', id, out, { yes: true }));
      expect(r.code).toBe(1);
      expect(r.text).toMatch(/RESTORE FAILED at 02-directory-docs\.tar\.gz \(directory .*\/docs\)/);
      expect(r.text).toMatch(/restored: 01-volume-data\.tar\.gz\n/);
      expect(r.text).toMatch(/not restored: 02-directory-docs\.tar\.gz \(directory .*\/docs\)\n/);
      expect(await sh('app', 'cat /data/one.txt')).toBe('one');
    } finally {
      await rm(join(dir, 'docs'), { force: true });
      await mkdir(join(dir, 'docs', 'sub'), { recursive: true });
      await writeFile(join(dir, 'docs', 'a.txt'), 'first\n');
    }
  }, 60_000);

  it('refuses a planted backup whose manifest names a target the spec does not declare, touching nothing', async () => {
    const victim = join(dir, 'victim.txt');
    await writeFile(victim, 'untouched\n');
    const planted = '20261101T000000Z-abcdef';
    const payload = Buffer.from('planted\n');
    const sha = createHash('sha256').update(payload).digest('hex');
    const at = join(dir, 'dest', 'vol', planted);
    await mkdir(at, { recursive: true });
    await writeFile(join(at, '01-file-victim.txt'), payload);
    const manifest = {
      format: 1, backup: 'vol', id: planted, startedAt: '2026-11-01T00:00:00Z', finishedAt: '2026-11-01T00:00:01Z', hostname: 'evil', agentVersion: 'x',
      objects: [{ name: '01-file-victim.txt', source: { type: 'file', path: victim }, bytes: payload.length, sha256: sha, rawBytes: payload.length, compression: 'none', warnings: [] }],
    };
    await writeFile(join(at, 'manifest.json'), JSON.stringify(manifest));
    const err = await catalog.restore('vol', planted).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(RestoreRefusedError);
    expect((err as Error).message).toMatch(new RegExp(`object 01-file-victim\\.txt would be restored into file ${victim}, which the Backup spec does not declare`));
    expect((err as Error).message).toMatch(/the spec's source volume .*-data is not in this backup/);
    expect(await readFile(victim, 'utf8')).toBe('untouched\n');
    await rm(at, { recursive: true });
  });

  it('refuses a backup dated in the future, and backup list flags it instead of keeping it', async () => {
    const future = '20990101T000000Z-fedcba';
    const src = join(dir, 'dest', 'vol', id);
    const at = join(dir, 'dest', 'vol', future);
    await mkdir(at);
    for (const f of await readdir(src)) {
      const text = await readFile(join(src, f));
      await writeFile(join(at, f), f === 'manifest.json' ? Buffer.from(text.toString().replaceAll(id, future)) : text);
    }
    await expect(catalog.restore('vol', future)).rejects.toThrow(/backup 20990101T000000Z-fedcba is dated 2099-01-01T00:00:00.000Z, in the future .*refusing it/);
    const listed = await output((out) => backupListCommand(catalog, 'vol', out));
    expect(listed.text).toMatch(new RegExp(`${future} .* future \\(dated in the future`));
    expect(listed.text).toMatch(new RegExp(`${id} .* keep`));
    await rm(at, { recursive: true });
  });

  it('a full destination disk is blamed on the upload, counted so, and the failed run leaves nothing in backup list', async () => {
    const run = await backupNow('full');
    expect(run.record.succeeded).toBe(false);
    expect(run.record.outputTail).toMatch(/^upload failed: 02-volume-big\.tar: .*(ENOSPC|no space left)/i);
    const metrics = await (await apiFetch(agent, '/metrics')).text();
    expect(metrics).toMatch(/certitrack_backup_failures_total\{backup="full",step="upload"\} 1/);
    expect(metrics).toMatch(/certitrack_backup_failures_total\{backup="full",step="dump"\} 0/);
    // The first object was written whole; the failed run removed it, so nothing lingers.
    expect((await catalog.list('full')).backups).toEqual([]);
    expect(await readdir(fullDir)).toEqual([]);
    const status = (await (await apiFetch(agent, '/status')).json()) as { resources: { kind: string; name: string; details: { lastRun?: { id: string } } }[] };
    expect(status.resources.find((r) => r.kind === 'Backup' && r.name === 'full')?.details.lastRun?.id).toBe(run.record.id);
  }, 60_000);
});
