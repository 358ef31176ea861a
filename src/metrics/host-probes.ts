import { readFile, statfs } from 'node:fs/promises';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Datum } from './publisher.js';

/**
 * The figures the shipped alarms watch, measured on this host, published to CloudWatch and shown
 * on /metrics. Names follow what the alarms (and, for disk, the CloudWatch agent) expect:
 *
 * - `CertiTrack/HealthCheck` 1/0, no dimension (the seed's HealthCheck alarm, unchanged);
 * - `CWAgent/disk_used_percent` with InstanceId, path, device, fstype, exactly as the CloudWatch
 *   agent emits it with `append_dimensions: {InstanceId}`, plus a roll-up with InstanceId and path
 *   only (the agent's `aggregation_dimensions`), which is what an alarm can name without knowing
 *   the host's device and file system type;
 * - `CertiTrack/BackupAgeSeconds`, `CertiTrack/CertificateDaysToExpiry`, `CertiTrack/ContainerRestarts`
 *   per backup / certificate / service, the first two also as a worst-of aggregate with no dimension.
 *   These three are CloudWatch-only: on /metrics each figure has one owner, the kind that produces
 *   it (`certitrack_backup_age_seconds`, `certitrack_certificate_expiration_timestamp_seconds`,
 *   `certitrack_service_restarts_total`), so no second series says the same thing.
 */

export const APP_NAMESPACE = 'CertiTrack';
export const AGENT_NAMESPACE = 'CWAgent';
const PROBES = ['health', 'disk', 'backups', 'certificates', 'restarts'] as const;
type ProbeName = (typeof PROBES)[number];

/** One figure about one named thing (a backup, a certificate, a service), from another component. */
export interface Sample {
  name: string;
  value: number;
}

export interface HostProbeSources {
  /** Seconds since the last good run of each backup. */
  backupAges?: () => Promise<Sample[]>;
  /** Days (fractional) until each certificate expires. */
  certificateDays?: () => Promise<Sample[]>;
  /** How many times each service's container has been restarted. */
  containerRestarts?: () => Promise<Sample[]>;
}

export interface StatfsResult {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
}

export interface HostProbeOptions {
  /** Seed: curl http://localhost/health through nginx. Only a 2xx answer counts as healthy. */
  healthUrl?: string;
  healthTimeoutMs?: number;
  /** Mount points whose use is measured; default "/". */
  mountPoints?: string[];
  /** Added as the InstanceId dimension of disk metrics, as the CloudWatch agent does. */
  instanceId?: string;
  /** Publish the InstanceId+path roll-up of disk_used_percent (default true). */
  diskRollup?: boolean;
  log?: Logger;
  /** Injected in tests. */
  fetch?: typeof fetch;
  statfs?: (path: string) => Promise<StatfsResult>;
  mountsFile?: string;
  now?: () => Date;
}

export interface MountEntry {
  device: string;
  mountPoint: string;
  fstype: string;
}

/** /proc/self/mounts, octal escapes (\040 for a space) decoded. */
export function parseMounts(text: string): MountEntry[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const [device, mountPoint, fstype] = line.split(' ');
    if (device && mountPoint && fstype) out.push({ device: unescape(device), mountPoint: unescape(mountPoint), fstype });
  }
  return out;
}

/** The mount a path lives on: the longest mount point that contains it; later mounts shadow earlier ones. */
export function mountFor(path: string, mounts: readonly MountEntry[]): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const inside = path === m.mountPoint || m.mountPoint === '/' || path.startsWith(`${m.mountPoint}/`);
    if (inside && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** Telegraf's (and so the CloudWatch agent's) used_percent: used / (used + available to users). */
export function diskUsedPercent(s: StatfsResult): number {
  const used = (s.blocks - s.bfree) * s.bsize;
  const avail = s.bavail * s.bsize;
  return used + avail > 0 ? (used / (used + avail)) * 100 : 0;
}

export class HostProbes {
  private readonly healthUp: Gauge;
  private readonly diskUsed: Gauge<'path'>;
  private readonly probeFailures: Counter<'probe'>;
  private readonly fetchFn: typeof fetch;
  private readonly statfsFn: (path: string) => Promise<StatfsResult>;

  constructor(
    registry: Registry,
    private readonly opts: HostProbeOptions = {},
    private readonly sources: HostProbeSources = {},
  ) {
    const registers = [registry];
    this.healthUp = new Gauge({ name: 'certitrack_health_check_up', help: '1 if the application health URL answered 2xx at the last probe.', registers });
    this.diskUsed = new Gauge({ name: 'certitrack_disk_used_ratio', help: 'Used fraction of a file system, as the CloudWatch agent computes it.', labelNames: ['path'], registers });
    this.probeFailures = new Counter({ name: 'certitrack_metric_probe_failures_total', help: 'Probes that could not measure, by probe.', labelNames: ['probe'], registers });
    for (const p of PROBES) this.probeFailures.labels(p).inc(0);
    this.fetchFn = opts.fetch ?? fetch;
    this.statfsFn = opts.statfs ?? ((p) => statfs(p));
  }

  /** Measures everything once, updates the gauges and returns the CloudWatch data points. Never throws. */
  async collect(): Promise<Datum[]> {
    const timestamp = (this.opts.now ?? (() => new Date()))();
    const parts = await Promise.all([
      this.guard('health', () => this.health()),
      this.guard('disk', () => this.disk()),
      this.guard('backups', () => this.named(this.sources.backupAges, 'BackupAgeSeconds', 'Backup', 'Seconds', 'max')),
      this.guard('certificates', () => this.named(this.sources.certificateDays, 'CertificateDaysToExpiry', 'Certificate', 'None', 'min')),
      this.guard('restarts', () => this.named(this.sources.containerRestarts, 'ContainerRestarts', 'Service', 'Count')),
    ]);
    return parts.flat().map((d) => ({ ...d, timestamp }));
  }

  private async guard(probe: ProbeName, fn: () => Promise<Datum[]>): Promise<Datum[]> {
    try {
      return await fn();
    } catch (err) {
      this.probeFailures.labels(probe).inc();
      this.opts.log?.warn({ probe, err: (err as Error).message }, 'metric probe failed');
      return [];
    }
  }

  private async health(): Promise<Datum[]> {
    const url = this.opts.healthUrl ?? 'http://localhost/health';
    let up = 0;
    try {
      const res = await this.fetchFn(url, { redirect: 'manual', signal: AbortSignal.timeout(this.opts.healthTimeoutMs ?? 5000) });
      await res.body?.cancel();
      up = res.status >= 200 && res.status < 300 ? 1 : 0;
      if (!up) this.opts.log?.debug({ url, status: res.status }, 'health check not 2xx');
    } catch (err) {
      this.opts.log?.debug({ url, err: (err as Error).message }, 'health check failed');
    }
    this.healthUp.set(up);
    return [{ namespace: APP_NAMESPACE, name: 'HealthCheck', value: up, unit: 'None' }];
  }

  private async disk(): Promise<Datum[]> {
    const mounts = parseMounts(await readFile(this.opts.mountsFile ?? '/proc/self/mounts', 'utf8'));
    const out: Datum[] = [];
    this.diskUsed.reset();
    for (const path of this.opts.mountPoints ?? ['/']) {
      const percent = diskUsedPercent(await this.statfsFn(path));
      this.diskUsed.labels(path).set(percent / 100);
      const mount = mountFor(path, mounts);
      const instance: Record<string, string> = this.opts.instanceId ? { InstanceId: this.opts.instanceId } : {};
      const full: Record<string, string> = { ...instance, path, device: (mount?.device ?? 'unknown').replaceAll('/dev/', ''), fstype: mount?.fstype ?? 'unknown' };
      out.push({ namespace: AGENT_NAMESPACE, name: 'disk_used_percent', value: percent, unit: 'Percent', dimensions: full });
      if (this.opts.diskRollup !== false) out.push({ namespace: AGENT_NAMESPACE, name: 'disk_used_percent', value: percent, unit: 'Percent', dimensions: { ...instance, path } });
    }
    return out;
  }

  private async named(
    source: (() => Promise<Sample[]>) | undefined,
    metric: string,
    dimension: string,
    unit: Datum['unit'],
    aggregate?: 'min' | 'max',
  ): Promise<Datum[]> {
    if (!source) return [];
    const samples = await source();
    const out: Datum[] = [];
    for (const s of samples) {
      out.push({ namespace: APP_NAMESPACE, name: metric, value: s.value, unit, dimensions: { [dimension]: s.name } });
    }
    if (aggregate && samples.length > 0) {
      const values = samples.map((s) => s.value);
      out.push({ namespace: APP_NAMESPACE, name: metric, value: aggregate === 'max' ? Math.max(...values) : Math.min(...values), unit });
    }
    return out;
  }
}
