import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupAgeSamples } from '../../src/backup/backup-metrics.js';
import { DesiredState } from '../../src/manifests/desired-state.js';
import type { Resource } from '../../src/manifests/resource.js';
import { diskUsedPercent, HostProbes, mountFor, parseMounts } from '../../src/metrics/host-probes.js';
import { RunHistory } from '../../src/schedule/run-history.js';
import { DurableState } from '../../src/state/durable-state.js';

const MOUNTS = [
  '/dev/nvme0n1p1 / xfs rw,noatime,attr2 0 0',
  'proc /proc proc rw,nosuid 0 0',
  '/dev/nvme1n1 /var/lib/docker ext4 rw,relatime 0 0',
  '/dev/nvme2n1 /mnt/my\\040data ext4 rw 0 0',
  '',
].join('\n');

const metricValues = async (registry: Registry, name: string): Promise<{ labels: Record<string, string | number | undefined>; value: number }[]> =>
  ((await registry.getMetricsAsJSON()).find((m) => m.name === name)?.values ?? []).map((v) => ({ labels: { ...v.labels }, value: v.value }));

describe('disk helpers', () => {
  it('parses the mount table (escapes decoded) and finds the mount a path lives on', () => {
    const mounts = parseMounts(MOUNTS);
    expect(mounts).toHaveLength(4);
    expect(mountFor('/', mounts)?.device).toBe('/dev/nvme0n1p1');
    expect(mountFor('/var/lib/docker/volumes', mounts)?.device).toBe('/dev/nvme1n1');
    expect(mountFor('/var/lib', mounts)?.device).toBe('/dev/nvme0n1p1');
    expect(mountFor('/mnt/my data', mounts)?.fstype).toBe('ext4');
  });

  it('computes used percent as the CloudWatch agent does (reserved blocks count as unavailable)', () => {
    // 100 blocks, 40 free of which 30 available to users: used 60 / (60 + 30).
    expect(diskUsedPercent({ bsize: 4096, blocks: 100, bfree: 40, bavail: 30 })).toBeCloseTo(66.667, 3);
  });

  it('agrees with df on this machine for "/"', async () => {
    const probes = new HostProbes(new Registry(), { healthUrl: 'http://127.0.0.1:1/', healthTimeoutMs: 100 });
    const disk = (await probes.collect()).find((d) => d.name === 'disk_used_percent');
    const df = execFileSync('df', ['-P', '/'], { encoding: 'utf8' }).trim().split('\n')[1]?.split(/\s+/)[4] ?? '';
    expect(Math.abs((disk?.value ?? -100) - Number(df.replace('%', '')))).toBeLessThanOrEqual(1.5);
  });
});

describe('HostProbes', () => {
  let server: Server;
  let url: string;
  let status = 200;
  beforeAll(async () => {
    server = createServer((req, res) => res.writeHead(status, status === 301 ? { location: 'https://example.invalid/health' } : {}).end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const make = (registry: Registry, extra: ConstructorParameters<typeof HostProbes>[2] = {}): HostProbes =>
    new HostProbes(
      registry,
      {
        healthUrl: url,
        instanceId: 'i-0abc',
        mountPoints: ['/', '/var/lib/docker'],
        mountsFile: '/dev/null',
        statfs: async (p) => (p === '/' ? { bsize: 4096, blocks: 1000, bfree: 500, bavail: 500 } : { bsize: 4096, blocks: 1000, bfree: 100, bavail: 100 }),
        now: () => new Date('2026-03-01T00:00:00Z'),
      },
      extra,
    );

  it('publishes HealthCheck 1 on a 2xx and 0 on an error, a redirect or no answer', async () => {
    const registry = new Registry();
    const probes = make(registry);
    const health = async (): Promise<number | undefined> => (await probes.collect()).find((d) => d.name === 'HealthCheck')?.value;
    status = 200;
    expect(await health()).toBe(1);
    expect((await metricValues(registry, 'certitrack_health_check_up'))[0]?.value).toBe(1);
    status = 503;
    expect(await health()).toBe(0);
    status = 301;
    expect(await health()).toBe(0);
    const dead = new HostProbes(new Registry(), { healthUrl: 'http://127.0.0.1:1/health', mountsFile: '/dev/null', mountPoints: [] });
    expect((await dead.collect()).find((d) => d.name === 'HealthCheck')?.value).toBe(0);
    status = 200;
  });

  it('names disk data as the CloudWatch agent does, plus the InstanceId+path roll-up the alarm uses', async () => {
    const registry = new Registry();
    const data = (await make(registry).collect()).filter((d) => d.name === 'disk_used_percent');
    expect(data.map((d) => ({ ns: d.namespace, value: d.value, unit: d.unit, dims: d.dimensions }))).toEqual([
      { ns: 'CWAgent', value: 50, unit: 'Percent', dims: { InstanceId: 'i-0abc', path: '/', device: 'unknown', fstype: 'unknown' } },
      { ns: 'CWAgent', value: 50, unit: 'Percent', dims: { InstanceId: 'i-0abc', path: '/' } },
      { ns: 'CWAgent', value: 90, unit: 'Percent', dims: { InstanceId: 'i-0abc', path: '/var/lib/docker', device: 'unknown', fstype: 'unknown' } },
      { ns: 'CWAgent', value: 90, unit: 'Percent', dims: { InstanceId: 'i-0abc', path: '/var/lib/docker' } },
    ]);
    expect(await metricValues(registry, 'certitrack_disk_used_ratio')).toEqual([
      { labels: { path: '/' }, value: 0.5 },
      { labels: { path: '/var/lib/docker' }, value: 0.9 },
    ]);
  });

  it('takes backup ages, certificate days and restarts from providers, with worst-of aggregates', async () => {
    const registry = new Registry();
    const probes = make(registry, {
      backupAges: async () => [{ name: 'database', value: 3600 }, { name: 'files', value: 7200 }],
      certificateDays: async () => [{ name: 'site', value: 60 }, { name: 'api', value: 12.5 }],
      containerRestarts: async () => [{ name: 'backend', value: 3 }],
    });
    const data = (await probes.collect()).filter((d) => d.namespace === 'CertiTrack' && d.name !== 'HealthCheck');
    expect(data.map((d) => [d.name, d.dimensions ?? {}, d.value])).toEqual([
      ['BackupAgeSeconds', { Backup: 'database' }, 3600],
      ['BackupAgeSeconds', { Backup: 'files' }, 7200],
      ['BackupAgeSeconds', {}, 7200],
      ['CertificateDaysToExpiry', { Certificate: 'site' }, 60],
      ['CertificateDaysToExpiry', { Certificate: 'api' }, 12.5],
      ['CertificateDaysToExpiry', {}, 12.5],
      ['ContainerRestarts', { Service: 'backend' }, 3],
    ]);
    expect(data.every((d) => d.timestamp?.toISOString() === '2026-03-01T00:00:00.000Z')).toBe(true);
    // On /metrics these figures belong to their kinds (backup age, certificate expiration, service
    // restarts): the probes register no second series for them.
    for (const name of ['certitrack_backup_age_seconds', 'certitrack_certificate_remaining_seconds', 'certitrack_container_restarts']) {
      expect(registry.getSingleMetric(name)).toBeUndefined();
    }
    expect(registry.getMetricsAsArray().map((m) => m.name).sort()).toEqual(['certitrack_disk_used_ratio', 'certitrack_health_check_up', 'certitrack_metric_probe_failures_total']);
  });

  it('a failing provider costs only its own figures, and is counted', async () => {
    const registry = new Registry();
    const probes = make(registry, { backupAges: async () => Promise.reject(new Error('state unreadable')) });
    const data = await probes.collect();
    expect(data.some((d) => d.name === 'HealthCheck')).toBe(true);
    expect(data.some((d) => d.name === 'BackupAgeSeconds')).toBe(false);
    expect((await metricValues(registry, 'certitrack_metric_probe_failures_total')).find((v) => v.labels.probe === 'backups')?.value).toBe(1);
  });
});

describe('backup ages for the host probes', () => {
  it('come from the persisted run history of the declared Backups, for the last success only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'backup-ages-'));
    let state: DurableState | undefined;
    try {
      let now = new Date('2026-03-01T02:00:00Z');
      state = await DurableState.open(dir);
      const history = new RunHistory(state, () => now);
      const ok = history.start('Backup/database', 'schedule');
      now = new Date('2026-03-01T02:10:00Z');
      history.finish('Backup/database', ok.id, { succeeded: true, outputTail: '' });
      now = new Date('2026-03-01T03:00:00Z');
      history.finish('Backup/database', history.start('Backup/database', 'schedule').id, { succeeded: false, outputTail: 'dump failed' });
      history.finish('Backup/files', history.start('Backup/files', 'schedule').id, { succeeded: false, outputTail: 'dump failed' });
      history.finish('Backup/gone', history.start('Backup/gone', 'schedule').id, { succeeded: true, outputTail: '' });
      const declared = (name: string) => ({ kind: 'Backup', name, labels: {}, spec: {}, source: {} }) as Resource;
      const desired = new DesiredState([declared('database'), declared('files')], now, 'test');
      // The database's failed run at 03:00 does not reset its age; files never succeeded; gone is not declared.
      expect(backupAgeSamples(desired, history, new Date('2026-03-01T04:10:00Z'))).toEqual([{ name: 'database', value: 2 * 3600 }]);
    } finally {
      await state?.flush();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
