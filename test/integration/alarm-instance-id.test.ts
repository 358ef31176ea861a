import { CloudWatchClient, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alarmSpec } from '../../src/manifests/kinds/alarm.js';
import { desiredAlarm, toPutInput } from '../../src/reconcilers/alarm/normalize.js';
import { runCli } from '../helpers/cli.js';
import { type FakeCloudWatch, startFakeCloudWatch } from '../helpers/fake-cloudwatch-server.js';
import { doc, writeManifest } from '../helpers/manifests.js';

/**
 * `InstanceId: auto` off EC2: the agent's CLI, as a user runs it, against a CloudWatch endpoint
 * behind the real SDK. IMDS is disabled (as off EC2), so only --aws-instance-id or
 * CERTITRACK_AWS_INSTANCE_ID can say which instance the alarm watches.
 */
const INSTANCE = `it-iid-${randomBytes(3).toString('hex')}`;
const FLAG_ID = 'i-0123456789abcdef0';
const ENV_ID = 'i-0fedcba9876543210';
const CPU = { metric: { namespace: 'AWS/EC2', name: 'CPUUtilization', dimensions: { InstanceId: 'auto' } }, period: '5m', evaluationPeriods: 2, threshold: 80, comparison: '>' };

let cw: FakeCloudWatch;
let root: string;
let manifests: string;
let env: NodeJS.ProcessEnv;

interface PlanJson {
  changes: number;
  actions: { kind: string; name: string; action: string; reason: string; changes?: { path: string; from?: string; to?: string }[] }[];
}

const plan = (extra: string[] = [], moreEnv: NodeJS.ProcessEnv = {}) =>
  runCli(['plan', manifests, '-o', 'json', '--state-dir', join(root, 'state'), '--instance', INSTANCE, ...extra], { ...env, ...moreEnv });

beforeAll(async () => {
  cw = await startFakeCloudWatch('us-east-1');
  root = await mkdtemp(join(tmpdir(), 'alarm-iid-'));
  manifests = join(root, 'manifests');
  await writeManifest(manifests, 'alarms.yaml', [
    doc('Alarm', 'high-cpu', CPU),
  ]);
  env = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    AWS_EC2_METADATA_DISABLED: 'true',
    CERTITRACK_AWS_ENDPOINT: cw.url,
    CERTITRACK_AWS_INSTANCE_ID: '',
  };
  // The alarm as an earlier apply with --aws-instance-id FLAG_ID left it (the same request the agent sends).
  const client = new CloudWatchClient({ region: 'us-east-1', endpoint: cw.url, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
  const earlier = desiredAlarm('high-cpu', alarmSpec.parse(CPU), { instance: INSTANCE, instanceId: FLAG_ID });
  await client.send(new PutMetricAlarmCommand(toPutInput(earlier.alarm, earlier.tags)));
  client.destroy();
}, 60_000);

afterAll(async () => {
  await cw?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('InstanceId: auto off EC2', () => {
  it('cannot be resolved without an instance id: a note that names the flag, and no change', async () => {
    const res = await plan();
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as PlanJson;
    expect(out.changes).toBe(0);
    expect(out.actions).toEqual([expect.objectContaining({ kind: 'Alarm', name: 'high-cpu', action: 'note', reason: expect.stringMatching(/InstanceId "auto" needs this instance's id.*--aws-instance-id or CERTITRACK_AWS_INSTANCE_ID/) })]);
  }, 60_000);

  it('resolves to --aws-instance-id: the alarm created with that id is in sync', async () => {
    const res = await plan(['--aws-instance-id', FLAG_ID]);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout) as PlanJson).toMatchObject({ changes: 0, actions: [] });
  }, 60_000);

  it('resolves to CERTITRACK_AWS_INSTANCE_ID, and the flag wins over it', async () => {
    const res = await plan([], { CERTITRACK_AWS_INSTANCE_ID: ENV_ID });
    expect(res.code).toBe(2);
    const out = JSON.parse(res.stdout) as PlanJson;
    expect(out.actions).toEqual([
      expect.objectContaining({ action: 'update', changes: [{ path: 'spec.metric.dimensions', from: `{"InstanceId":"${FLAG_ID}"}`, to: `{"InstanceId":"${ENV_ID}"}` }] }),
    ]);
    expect((await plan(['--aws-instance-id', FLAG_ID], { CERTITRACK_AWS_INSTANCE_ID: ENV_ID })).code).toBe(0);
  }, 60_000);

  it('refuses something that is not an instance id, naming the flag', async () => {
    const res = await plan(['--aws-instance-id', 'web-1']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/--aws-instance-id: "web-1" is not an EC2 instance id/);
  }, 60_000);
});
