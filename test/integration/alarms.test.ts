import { CloudWatchClient, DeleteAlarmsCommand, DescribeAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CloudWatchAdapter } from '../../src/adapters/cloudwatch.js';
import { type AwsEnabled, buildAwsContext } from '../../src/aws/context.js';
import { resolveCfnRefs } from '../../src/manifests/cfn-refs.js';
import type { DesiredState } from '../../src/manifests/desired-state.js';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { HostProbes } from '../../src/metrics/host-probes.js';
import { type Datum, MetricPublisher } from '../../src/metrics/publisher.js';
import { AlarmReconciler } from '../../src/reconcilers/alarm/alarm-reconciler.js';
import { StatusBoard } from '../../src/state/status-board.js';
import { planOnce, reconcileOnce } from '../helpers/contract.js';
import { type FakeCloudWatch, startFakeCloudWatch } from '../helpers/fake-cloudwatch-server.js';

/**
 * The Alarm reconciler and the metric publisher driven through the real @aws-sdk/client-cloudwatch
 * (JSON protocol, signing, retries, gzip) against an HTTP endpoint. No CloudWatch emulator installs
 * here (moto needs PyPI; npm has none), so the endpoint is test/helpers/fake-cloudwatch-server.ts.
 */

const INSTANCE = 'it-alarms';
const INSTANCE_ID = 'i-0123456789abcdef0';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:certitrack-alerts';
const FOREIGN = 'certitrack-hand-made';

let cw: FakeCloudWatch;
let aws: AwsEnabled;
let client: CloudWatchClient;
let operator: CloudWatchClient;
let dir: string;
let shippedDocs: string;
const savedEnv = { ...process.env };

const ops = (): string[] => cw.requests.map((r) => r.operation);
const countOps = (name: string, from = 0): number => cw.requests.slice(from).filter((r) => r.operation === name).length;

async function desiredFrom(yaml: string): Promise<DesiredState> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'alarms.yaml'), yaml);
  const result = await loadManifests(dir, { secrets: new StaticSecrets({}), displayBase: dir });
  if (!result.ok) throw new Error(result.errors.map((e) => `${e.file}:${e.line}: ${e.path}: ${e.message}`).join('\n'));
  return result.state;
}

async function reconcileAll(r: AlarmReconciler, desired: DesiredState, status: StatusBoard): Promise<void> {
  const names = new Set([...desired.list('Alarm').map((a) => a.name), ...(await r.listOwned())]);
  for (const name of names) await reconcileOnce(r, name, desired, status);
}

const value = async (registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> =>
  (await registry.getMetricsAsJSON()).find((m) => m.name === name)?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;

const alarmDoc = (name: string, spec: Record<string, unknown>): string => stringify({ apiVersion: 'certitrack.io/v1', kind: 'Alarm', metadata: { name }, spec });

beforeAll(async () => {
  cw = await startFakeCloudWatch('us-east-1');
  dir = join(await mkdtemp(join(tmpdir(), 'alarms-it-')), 'manifests');
  // Credentials come from the SDK's default chain, as on the host (there: the instance role).
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', AWS_EC2_METADATA_DISABLED: 'true' });
  const built = await buildAwsContext({ region: 'us-east-1', endpoint: cw.url, instanceId: INSTANCE_ID, imds: false });
  if (!built.enabled) throw new Error(built.reason);
  aws = built;
  client = new CloudWatchClient({ ...aws.clientConfig('CloudWatch'), maxAttempts: 1 });
  operator = new CloudWatchClient({ ...aws.clientConfig('CloudWatch'), maxAttempts: 1 });
  const text = await readFile(new URL('../../manifests/alarms.yaml', import.meta.url), 'utf8');
  shippedDocs = parseAllDocuments(text)
    .map((d) => {
      const { value, problems } = resolveCfnRefs(d.toJS(), { AlertTopicArn: TOPIC });
      if (problems.length) throw new Error(JSON.stringify(problems));
      return stringify(value);
    })
    .join('---\n');
});

afterAll(async () => {
  client?.destroy();
  operator?.destroy();
  await cw?.close();
  await rm(join(dir, '..'), { recursive: true, force: true });
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
});

describe('Alarm reconciler against a CloudWatch JSON endpoint', () => {
  let registry: Registry;
  let reconciler: AlarmReconciler;
  let status: StatusBoard;
  beforeEach(() => {
    cw.reset();
    registry = new Registry();
    status = new StatusBoard(undefined);
    reconciler = new AlarmReconciler(new CloudWatchAdapter(client), aws, registry, { instance: INSTANCE, requeueAfterMs: 120_000 });
  });

  it('speaks the JSON 1.0 protocol the SDK uses (captured request)', async () => {
    await client.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'certitrack-' }));
    const [req] = cw.requests;
    expect(req?.headers['content-type']).toBe('application/x-amz-json-1.0');
    expect(req?.headers['x-amz-target']).toBe('GraniteServiceVersion20100801.DescribeAlarms');
    expect(req?.headers['x-amzn-query-mode']).toBe('true');
    expect(String(req?.headers.authorization)).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/monitoring\/aws4_request/);
    expect(req?.input).toEqual({ AlarmNamePrefix: 'certitrack-' });
  });

  it('creates the shipped alarms exactly as declared, then leaves them alone', async () => {
    const desired = await desiredFrom(shippedDocs);
    await reconcileAll(reconciler, desired, status);
    expect([...cw.alarms.keys()].sort()).toEqual(['certitrack-backup-age', 'certitrack-certificate-expiry', 'certitrack-health-check', 'certitrack-high-cpu', 'certitrack-low-disk-space']);
    const cpu = cw.alarms.get('certitrack-high-cpu');
    expect(cpu?.fields).toMatchObject({
      AlarmDescription: 'High CPU utilization',
      Namespace: 'AWS/EC2',
      MetricName: 'CPUUtilization',
      Statistic: 'Average',
      Dimensions: [{ Name: 'InstanceId', Value: INSTANCE_ID }],
      Period: 300,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      Threshold: 80,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'missing',
      AlarmActions: [TOPIC],
    });
    expect(Object.fromEntries(cpu?.tags ?? [])).toEqual({ 'io.certitrack.managed-by': 'certitrack-agent', 'io.certitrack.instance': INSTANCE, 'io.certitrack.alarm': 'high-cpu' });
    expect(cw.alarms.get('certitrack-low-disk-space')?.fields.Dimensions).toEqual([{ Name: 'InstanceId', Value: INSTANCE_ID }, { Name: 'path', Value: '/' }]);
    expect(status.get('Alarm/health-check')?.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Applied' });
    expect(await reconciler.listOwned()).toEqual(['backup-age', 'certificate-expiry', 'health-check', 'high-cpu', 'low-disk-space']);

    const mark = cw.requests.length;
    await reconcileAll(reconciler, desired, status);
    expect(countOps('PutMetricAlarm', mark)).toBe(0);
    expect(countOps('TagResource', mark)).toBe(0);
    expect(status.get('Alarm/high-cpu')?.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'InSync' });
    const plan = await planOnce(reconciler, 'high-cpu', desired);
    expect(plan).toEqual([]);
  });

  it('restores an alarm edited behind its back (fields and tags)', async () => {
    const desired = await desiredFrom(alarmDoc('high-cpu', { description: 'High CPU utilization', metric: { namespace: 'AWS/EC2', name: 'CPUUtilization', dimensions: { InstanceId: 'auto' } }, period: '5m', evaluationPeriods: 2, threshold: 80, comparison: '>', actions: { alarm: [TOPIC] }, tags: { team: 'ops' } }));
    await reconcileOnce(reconciler, 'high-cpu', desired, status);
    const before = structuredClone(cw.alarms.get('certitrack-high-cpu')?.fields);

    // Someone "fixes" it in the console: PutMetricAlarm replaces the whole alarm (actions dropped).
    await operator.send(new PutMetricAlarmCommand({ AlarmName: 'certitrack-high-cpu', Namespace: 'AWS/EC2', MetricName: 'CPUUtilization', Statistic: 'Maximum', Period: 60, EvaluationPeriods: 5, Threshold: 95, ComparisonOperator: 'GreaterThanThreshold', Dimensions: [{ Name: 'InstanceId', Value: INSTANCE_ID }] }));
    cw.alarms.get('certitrack-high-cpu')?.tags.delete('team');
    expect(cw.alarms.get('certitrack-high-cpu')?.fields.AlarmActions).toBeUndefined();

    const plan = await planOnce(reconciler, 'high-cpu', desired);
    expect(plan.map((p) => [p.type, p.action])).toEqual([['update', 'update'], ['tag', 'update']]);
    expect(plan[0]?.changes).toEqual(
      expect.arrayContaining([
        { path: 'spec.threshold', from: '95', to: '80' },
        { path: 'spec.actions.alarm', from: '[]', to: JSON.stringify([TOPIC]) },
        { path: 'spec.metric.statistic', from: '"Maximum"', to: '"Average"' },
      ]),
    );
    expect(plan[1]?.changes).toEqual([{ path: 'spec.tags.team', to: '"ops"' }]);

    const mark = cw.requests.length;
    await reconcileOnce(reconciler, 'high-cpu', desired, status);
    const after = cw.alarms.get('certitrack-high-cpu')?.fields;
    for (const k of ['AlarmDescription', 'Statistic', 'Period', 'EvaluationPeriods', 'DatapointsToAlarm', 'Threshold', 'AlarmActions', 'Dimensions'] as const) expect(after?.[k], k).toEqual(before?.[k]);
    expect(cw.alarms.get('certitrack-high-cpu')?.tags.get('team')).toBe('ops');
    expect(ops().slice(mark).filter((o) => o !== 'DescribeAlarms' && o !== 'ListTagsForResource')).toEqual(['PutMetricAlarm', 'TagResource']);
    const changes = (await registry.getMetricsAsJSON()).find((m) => m.name === 'certitrack_alarm_changes_total')?.values;
    expect(changes?.find((v) => v.labels.action === 'update')?.value).toBe(1);
  });

  it('is not InSync while a repair keeps failing, and says why; back to Applied once CloudWatch answers', async () => {
    const desired = await desiredFrom(alarmDoc('high-cpu', { metric: { namespace: 'AWS/EC2', name: 'CPUUtilization', dimensions: { InstanceId: 'auto' } }, period: '5m', evaluationPeriods: 2, threshold: 80, comparison: '>' }));
    await reconcileOnce(reconciler, 'high-cpu', desired, status);
    await operator.send(new PutMetricAlarmCommand({ AlarmName: 'certitrack-high-cpu', Namespace: 'AWS/EC2', MetricName: 'CPUUtilization', Statistic: 'Average', Period: 300, EvaluationPeriods: 2, Threshold: 99, ComparisonOperator: 'GreaterThanThreshold', Dimensions: [{ Name: 'InstanceId', Value: INSTANCE_ID }] }));
    const ready = () => status.get('Alarm/high-cpu')?.conditions.find((c) => c.type === 'Ready');
    expect(ready()).toMatchObject({ status: 'True' });

    cw.failNext('PutMetricAlarm', Number.POSITIVE_INFINITY, 503, 'ServiceUnavailable');
    for (let i = 0; i < 2; i++) {
      await expect(reconcileOnce(reconciler, 'high-cpu', desired, status)).rejects.toThrow(/PutMetricAlarm certitrack-high-cpu failed/);
      expect(ready()).toMatchObject({ status: 'False', reason: 'ApplyFailed', message: expect.stringMatching(/^update failed: CloudWatch PutMetricAlarm certitrack-high-cpu failed: .*; retrying$/) });
    }
    expect(cw.alarms.get('certitrack-high-cpu')?.fields.Threshold).toBe(99);

    cw.failNext('PutMetricAlarm', 0); // CloudWatch answers again
    await reconcileOnce(reconciler, 'high-cpu', desired, status);
    expect(ready()).toMatchObject({ status: 'True', reason: 'Applied' });
    expect(cw.alarms.get('certitrack-high-cpu')?.fields.Threshold).toBe(80);
    await reconcileOnce(reconciler, 'high-cpu', desired, status);
    expect(ready()).toMatchObject({ status: 'True', reason: 'InSync' });
  });

  it('deletes alarms removed from the manifests, and the old one when an alarm is renamed', async () => {
    const both = alarmDoc('a', { metric: { namespace: 'CertiTrack', name: 'A' }, evaluationPeriods: 1, threshold: 1, comparison: '>' }) + '---\n' + alarmDoc('b', { metric: { namespace: 'CertiTrack', name: 'B' }, evaluationPeriods: 1, threshold: 1, comparison: '>' });
    await reconcileAll(reconciler, await desiredFrom(both), status);
    expect([...cw.alarms.keys()].sort()).toEqual(['certitrack-a', 'certitrack-b']);

    const onlyA = await desiredFrom(alarmDoc('a', { alarmName: 'certitrack-a-renamed', metric: { namespace: 'CertiTrack', name: 'A' }, evaluationPeriods: 1, threshold: 1, comparison: '>' }));
    expect(await planOnce(reconciler, 'b', onlyA)).toEqual([{ type: 'delete', action: 'remove', names: ['certitrack-b'], reason: 'delete certitrack-b: no longer declared' }]);
    await reconcileAll(reconciler, onlyA, status);
    expect([...cw.alarms.keys()].sort()).toEqual(['certitrack-a-renamed']);
    expect(status.get('Alarm/b')).toBeUndefined();
  });

  it('never modifies or deletes an alarm without the ownership tag', async () => {
    await operator.send(new PutMetricAlarmCommand({ AlarmName: FOREIGN, Namespace: 'AWS/EC2', MetricName: 'CPUUtilization', Statistic: 'Average', Period: 60, EvaluationPeriods: 1, Threshold: 50, ComparisonOperator: 'GreaterThanThreshold', Tags: [{ Key: 'team', Value: 'ops' }] }));
    const before = structuredClone(cw.alarms.get(FOREIGN)?.fields);
    // A manifest that claims the same name (metadata.name hand-made -> certitrack-hand-made).
    const desired = await desiredFrom(alarmDoc('hand-made', { metric: { namespace: 'AWS/EC2', name: 'CPUUtilization' }, period: '5m', evaluationPeriods: 2, threshold: 80, comparison: '>' }));
    const result = await reconcileOnce(reconciler, 'hand-made', desired, status);
    expect(result.requeueAfterMs).toBe(120_000);
    const ready = status.get('Alarm/hand-made')?.conditions.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'Conflict' });
    expect(ready?.message).toContain(`alarm ${FOREIGN} already exists and is not managed by certitrack-agent`);
    expect(await value(registry, 'certitrack_alarm_in_sync', { alarm: 'hand-made' })).toBe(0);
    expect(cw.alarms.get(FOREIGN)?.fields).toEqual(before);
    expect(Object.fromEntries(cw.alarms.get(FOREIGN)?.tags ?? [])).toEqual({ team: 'ops' });

    // Not declared at all: pruning does not see it either.
    const empty = await desiredFrom('');
    expect(await reconciler.listOwned()).toEqual([]);
    await reconcileOnce(reconciler, 'hand-made', empty, status);
    expect(cw.alarms.get(FOREIGN)?.fields).toEqual(before);
    expect(countOps('PutMetricAlarm')).toBe(1); // the operator's own
    expect(countOps('DeleteAlarms')).toBe(0);
    expect(await value(registry, 'certitrack_alarm_in_sync', { alarm: 'hand-made' })).toBeUndefined();
  });

  it('certitrack_alarm_in_sync is 1 only while CloudWatch was last seen holding the alarm as declared', async () => {
    const doc = alarmDoc('sync', { metric: { namespace: 'CertiTrack', name: 'S' }, evaluationPeriods: 1, threshold: 1, comparison: '>' });
    const desired = await desiredFrom(doc);
    const inSync = (): Promise<number | undefined> => value(registry, 'certitrack_alarm_in_sync', { alarm: 'sync' });
    await reconcileOnce(reconciler, 'sync', desired, status);
    expect(await inSync()).toBe(1);

    // CloudWatch cannot be asked: not known to be in sync.
    cw.failNext('DescribeAlarms', Number.POSITIVE_INFINITY);
    await expect(reconcileOnce(reconciler, 'sync', desired, status)).rejects.toThrow();
    expect(await inSync()).toBe(0);
    cw.failNext('DescribeAlarms', 0);
    await reconcileOnce(reconciler, 'sync', desired, status);
    expect(await inSync()).toBe(1);

    // Edited behind the agent's back and the repair fails: out of sync until a repair goes through.
    await operator.send(new PutMetricAlarmCommand({ AlarmName: 'certitrack-sync', Namespace: 'CertiTrack', MetricName: 'S', Statistic: 'Average', Period: 60, EvaluationPeriods: 1, Threshold: 99, ComparisonOperator: 'GreaterThanThreshold' }));
    cw.failNext('PutMetricAlarm', Number.POSITIVE_INFINITY);
    await expect(reconcileOnce(reconciler, 'sync', desired, status)).rejects.toThrow();
    expect(await inSync()).toBe(0);
    cw.failNext('PutMetricAlarm', 0);
    await reconcileOnce(reconciler, 'sync', desired, status);
    expect(cw.alarms.get('certitrack-sync')?.fields.Threshold).toBe(1);
    expect(await inSync()).toBe(1);

    await reconcileOnce(reconciler, 'sync', await desiredFrom(''), status);
    expect(await inSync()).toBeUndefined();
  });

  it('deletes more than 100 owned alarms in batches, paging DescribeAlarms', async () => {
    const adapter = new CloudWatchAdapter(client);
    const names = Array.from({ length: 150 }, (_, i) => `certitrack-bulk-${String(i).padStart(3, '0')}`);
    for (const name of names) {
      await adapter.put({ AlarmName: name, Namespace: 'CertiTrack', MetricName: 'X', Statistic: 'Average', Period: 60, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanThreshold', Tags: [{ Key: 'io.certitrack.managed-by', Value: 'certitrack-agent' }, { Key: 'io.certitrack.instance', Value: INSTANCE }] });
    }
    expect((await adapter.describeOwned('certitrack-bulk-')).length).toBe(150);
    expect(cw.requests.filter((r) => r.operation === 'DescribeAlarms').length).toBe(2);
    // The endpoint refuses 101 names in one call, as CloudWatch does...
    await expect(client.send(new DeleteAlarmsCommand({ AlarmNames: names.slice(0, 101) }))).rejects.toMatchObject({ name: 'ValidationException' });
    // ...so the adapter splits.
    const mark = cw.requests.length;
    await adapter.delete(names);
    expect(cw.requests.slice(mark).map((r) => (r.input.AlarmNames as string[]).length)).toEqual([100, 50]);
    expect(cw.alarms.size).toBe(0);
  });

  it('reports Disabled, and touches nothing, without AWS', async () => {
    const offRegistry = new Registry();
    const off = new AlarmReconciler(undefined, { enabled: false, reason: 'no AWS region: set AWS_REGION', identity: undefined, instanceId: undefined }, offRegistry, { instance: INSTANCE });
    const desired = await desiredFrom(alarmDoc('x', { metric: { namespace: 'CertiTrack', name: 'X' }, evaluationPeriods: 1, threshold: 1, comparison: '>' }));
    expect(await reconcileOnce(off, 'x', desired, status)).toEqual({});
    expect(status.get('Alarm/x')?.conditions).toEqual([
      expect.objectContaining({ type: 'Disabled', status: 'True', reason: 'AwsUnavailable', message: 'no AWS region: set AWS_REGION' }),
      expect.objectContaining({ type: 'Ready', status: 'False', reason: 'Disabled' }),
    ]);
    expect(await off.listOwned()).toEqual([]);
    expect(await value(offRegistry, 'certitrack_alarm_in_sync', { alarm: 'x' })).toBe(0);
    expect(await planOnce(off, 'x', desired)).toEqual([{ type: 'disabled', action: 'note', cause: 'no AWS region: set AWS_REGION', reason: 'AWS disabled: no AWS region: set AWS_REGION' }]);
  });
});

describe('MetricPublisher against a CloudWatch JSON endpoint', () => {
  beforeEach(() => cw.reset());

  it('publishes the host probes: the series the alarms watch arrive', async () => {
    const registry = new Registry();
    const probes = new HostProbes(registry, { instanceId: INSTANCE_ID, healthUrl: 'http://127.0.0.1:1/health', healthTimeoutMs: 200 }, {
      backupAges: async () => [{ name: 'database', value: 4000 }],
      certificateDays: async () => [{ name: 'site', value: 80 }],
      containerRestarts: async () => [{ name: 'backend', value: 2 }],
    });
    const publisher = new MetricPublisher(new CloudWatchAdapter(client), registry);
    const result = await publisher.publish(await probes.collect());
    expect(result).toMatchObject({ failed: 0, requests: 2 }); // CertiTrack and CWAgent
    const got = cw.datapoints.map((d) => `${d.namespace}/${String(d.datum.MetricName)}`);
    expect(new Set(got)).toEqual(new Set(['CertiTrack/HealthCheck', 'CWAgent/disk_used_percent', 'CertiTrack/BackupAgeSeconds', 'CertiTrack/CertificateDaysToExpiry', 'CertiTrack/ContainerRestarts']));
    const health = cw.datapoints.find((d) => d.datum.MetricName === 'HealthCheck')?.datum;
    expect(health).toMatchObject({ Value: 0, Unit: 'None' });
    expect(typeof health?.Timestamp).toBe('number'); // epoch seconds on the wire
  });

  it('batches 2500 data points at 1000 per request (bodies gzip-compressed by the SDK)', async () => {
    const registry = new Registry();
    const publisher = new MetricPublisher(new CloudWatchAdapter(client), registry);
    const data: Datum[] = Array.from({ length: 2500 }, (_, i) => ({ namespace: 'CertiTrack/Load', name: 'Series', value: i, dimensions: { Shard: String(i % 7) } }));
    const t0 = performance.now();
    expect(await publisher.publish(data)).toEqual({ sent: 2500, failed: 0, requests: 3 });
    const ms = performance.now() - t0;
    const puts = cw.requests.filter((r) => r.operation === 'PutMetricData');
    expect(puts.map((r) => (r.input.MetricData as unknown[]).length)).toEqual([1000, 1000, 500]);
    expect(puts.every((r) => r.headers['content-encoding'] === 'gzip')).toBe(true);
    expect(cw.datapoints.map((d) => d.datum.Value)).toEqual(data.map((d) => d.value));
    expect(await value(registry, 'certitrack_cloudwatch_datapoints_total', { result: 'sent' })).toBe(2500);
    console.info(`published 2500 data points in 3 requests in ${ms.toFixed(0)} ms`);
  });

  it('leaves retrying to the SDK client the AWS context configures, then counts the failure', async () => {
    const registry = new Registry();
    cw.failNext('PutMetricData', Number.POSITIVE_INFINITY, 500, 'InternalServiceError');
    const retrying = new CloudWatchClient(aws.clientConfig('CloudWatch'));
    const publisher = new MetricPublisher(new CloudWatchAdapter(retrying), registry);
    const result = await publisher.publish(Array.from({ length: 1200 }, (_, i) => ({ namespace: 'CertiTrack', name: 'X', value: i })));
    expect(result).toEqual({ sent: 0, failed: 1200, requests: 2 });
    // Each of the two batches was tried three times by the SDK (maxAttempts in the context), not more.
    expect(cw.requests.filter((r) => r.operation === 'PutMetricData')).toHaveLength(6);
    expect(await value(registry, 'certitrack_cloudwatch_publish_failures_total')).toBe(2);
    expect(await value(registry, 'certitrack_cloudwatch_datapoints_total', { result: 'failed' })).toBe(1200);
    expect(cw.datapoints).toHaveLength(0);
    retrying.destroy();
  });

  it('counts failures when nothing answers at all', async () => {
    const registry = new Registry();
    const dead = new CloudWatchClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:1', maxAttempts: 1 });
    const publisher = new MetricPublisher(new CloudWatchAdapter(dead), registry);
    expect(await publisher.publish([{ namespace: 'CertiTrack', name: 'HealthCheck', value: 1 }])).toEqual({ sent: 0, failed: 1, requests: 1 });
    expect(await value(registry, 'certitrack_cloudwatch_publish_failures_total')).toBe(1);
    dead.destroy();
  });
});
