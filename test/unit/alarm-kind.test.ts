import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveCfnRefs } from '../../src/manifests/cfn-refs.js';
import { alarmSpec } from '../../src/manifests/kinds/alarm.js';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { formatManifestError } from '../../src/manifests/source.js';
import { HostProbes } from '../../src/metrics/host-probes.js';
import { desiredAlarm } from '../../src/reconcilers/alarm/normalize.js';

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:certitrack-alerts';
const base = { metric: { namespace: 'CertiTrack', name: 'HealthCheck' }, evaluationPeriods: 1, threshold: 1, comparison: '<' };

describe('Alarm spec', () => {
  it('maps comparison symbols and converts periods to seconds', () => {
    for (const [symbol, name] of [['>', 'GreaterThanThreshold'], ['>=', 'GreaterThanOrEqualToThreshold'], ['<', 'LessThanThreshold'], ['<=', 'LessThanOrEqualToThreshold']]) {
      expect(alarmSpec.parse({ ...base, comparison: symbol, period: '5m' })).toMatchObject({ comparison: name, period: 300, treatMissingData: 'missing', actionsEnabled: true });
    }
    expect(alarmSpec.parse({ ...base, period: 30 }).period).toBe(30);
  });

  it('rejects periods CloudWatch rejects, and other impossible combinations', () => {
    const issues = (spec: Record<string, unknown>): string[] => {
      const r = alarmSpec.safeParse(spec);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues({ ...base, period: '45s' })).toEqual(['period: period must be 10s, 30s or a multiple of 60s (got 45s)']);
    expect(issues({ ...base, period: '90s' })).toEqual(['period: period must be 10s, 30s or a multiple of 60s (got 90s)']);
    expect(issues({ ...base, alarmName: 'my-alarm' })[0]).toMatch(/^alarmName: alarm names must start with "certitrack-"/);
    expect(issues({ ...base, datapointsToAlarm: 2 })).toEqual(['datapointsToAlarm: datapointsToAlarm cannot exceed evaluationPeriods']);
    expect(issues({ ...base, metrics: [{ id: 'e1', expression: 'm1*2' }] })).toContain('metric: set exactly one of metric (a single metric) or metrics (metric math)');
    expect(issues({ ...base, metric: { ...base.metric, statistic: 'Average', extendedStatistic: 'p99' } })).toEqual(['metric: set statistic or extendedStatistic, not both']);
    expect(issues({ ...base, actions: { alarm: ['not-an-arn'] } })[0]).toMatch(/^actions.alarm.0: expected an ARN/);
    expect(issues({ ...base, tags: { 'io.certitrack.instance': 'x' } })[0]).toMatch(/reserved/);
  });

  it('accepts metric math with exactly one returned series', () => {
    const math = {
      metrics: [
        { id: 'errors', metricStat: { metric: { namespace: 'CertiTrack', name: 'Errors' }, period: '1m', stat: 'Sum' }, returnData: false },
        { id: 'requests', metricStat: { metric: { namespace: 'CertiTrack', name: 'Requests' }, period: '1m', stat: 'Sum' }, returnData: false },
        { id: 'rate', expression: 'errors / requests * 100', label: 'Error rate' },
      ],
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      threshold: 5,
      comparison: '>=',
    };
    expect(alarmSpec.safeParse(math).success).toBe(true);
    const two = { ...math, metrics: math.metrics.map((m) => ({ ...m, returnData: true })) };
    expect(alarmSpec.safeParse(two).success).toBe(false);
  });
});

describe('manifests/alarms.yaml (shipped)', () => {
  let docs: { metadata: { name: string }; spec: unknown }[];
  let dir: string;
  beforeAll(async () => {
    const text = await readFile(new URL('../../manifests/alarms.yaml', import.meta.url), 'utf8');
    docs = parseAllDocuments(text).map((d) => {
      const { value, problems } = resolveCfnRefs(d.toJS(), { AlertTopicArn: TOPIC });
      expect(problems).toEqual([]);
      return value as { metadata: { name: string }; spec: unknown };
    });
    dir = await mkdtemp(join(tmpdir(), 'alarms-kind-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('holds the seed three plus backup age and certificate expiry, each notifying the stack topic', () => {
    const alarms = Object.fromEntries(docs.map((d) => [d.metadata.name, desiredAlarm(d.metadata.name, alarmSpec.parse(d.spec), { instance: 'certitrack', instanceId: 'i-0abc' }).alarm]));
    expect(Object.keys(alarms).sort()).toEqual(['backup-age', 'certificate-expiry', 'health-check', 'high-cpu', 'low-disk-space']);
    expect(alarms['high-cpu']).toMatchObject({ AlarmName: 'certitrack-high-cpu', Namespace: 'AWS/EC2', MetricName: 'CPUUtilization', Statistic: 'Average', Period: 300, EvaluationPeriods: 2, Threshold: 80, ComparisonOperator: 'GreaterThanThreshold', Dimensions: [{ Name: 'InstanceId', Value: 'i-0abc' }] });
    expect(alarms['low-disk-space']).toMatchObject({ Namespace: 'CWAgent', MetricName: 'disk_used_percent', Period: 300, EvaluationPeriods: 1, Threshold: 85, ComparisonOperator: 'GreaterThanThreshold' });
    expect(alarms['health-check']).toMatchObject({ Namespace: 'CertiTrack', MetricName: 'HealthCheck', Period: 60, EvaluationPeriods: 3, Threshold: 1, ComparisonOperator: 'LessThanThreshold', TreatMissingData: 'breaching', Dimensions: [] });
    expect(alarms['backup-age']).toMatchObject({ MetricName: 'BackupAgeSeconds', Threshold: 26 * 3600, ComparisonOperator: 'GreaterThanThreshold' });
    expect(alarms['certificate-expiry']).toMatchObject({ MetricName: 'CertificateDaysToExpiry', Threshold: 14, ComparisonOperator: 'LessThanThreshold' });
    for (const a of Object.values(alarms)) expect(a.AlarmActions).toEqual([TOPIC]);
  });

  it('watches exactly the series the agent publishes (same namespace, name and dimension set)', async () => {
    const probes = new HostProbes(new Registry(), {
      instanceId: 'i-0abc',
      healthUrl: 'http://127.0.0.1:1/health',
      healthTimeoutMs: 200,
    }, {
      backupAges: async () => [{ name: 'database', value: 100 }],
      certificateDays: async () => [{ name: 'site', value: 60 }],
    });
    const published = new Set((await probes.collect()).map((d) => `${d.namespace}/${d.name}${JSON.stringify(Object.keys(d.dimensions ?? {}).sort())}`));
    for (const d of docs) {
      const a = desiredAlarm(d.metadata.name, alarmSpec.parse(d.spec), { instance: 'certitrack', instanceId: 'i-0abc' }).alarm;
      if (a.Namespace === 'AWS/EC2') continue; // EC2's own metric
      expect(published, d.metadata.name).toContain(`${a.Namespace}/${a.MetricName}${JSON.stringify((a.Dimensions ?? []).map((x) => x.Name))}`);
    }
  });

  it('loads through the manifest loader once references are resolved; duplicate alarm names point at file:line', async () => {
    const yaml = docs.map((d) => stringify({ apiVersion: 'certitrack.io/v1', kind: 'Alarm', ...d })).join('---\n');
    await writeFile(join(dir, 'alarms.yaml'), yaml);
    const ok = await loadManifests(dir, { secrets: new StaticSecrets({}), displayBase: dir });
    expect(ok.ok && ok.state.list('Alarm').length).toBe(5);
    await writeFile(join(dir, 'dup.yaml'), stringify({ apiVersion: 'certitrack.io/v1', kind: 'Alarm', metadata: { name: 'cpu-again' }, spec: { alarmName: 'certitrack-high-cpu', ...base } }));
    const dup = await loadManifests(dir, { secrets: new StaticSecrets({}), displayBase: dir });
    expect(dup.ok).toBe(false);
    expect(!dup.ok && dup.errors.map(formatManifestError)).toEqual(['dup.yaml:6:14: spec.alarmName: alarm name "certitrack-high-cpu" is already used by Alarm "high-cpu"']);
  });
});
