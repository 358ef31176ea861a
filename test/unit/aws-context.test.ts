import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAwsContext, resolveEndpoint } from '../../src/aws/context.js';
import { awsInstanceIdFrom, configFrom } from '../../src/config.js';
import type { ImdsResult } from '../../src/aws/imds.js';
import { type FakeCloudWatch, startFakeCloudWatch } from '../helpers/fake-cloudwatch-server.js';

const onEc2 = (region = 'eu-west-1'): { identity: () => Promise<ImdsResult> } => ({
  identity: async () => ({ ok: true, identity: { instanceId: 'i-0abc', region, instanceType: 't3.medium', availabilityZone: `${region}a` } }),
});
const offEc2 = { identity: async (): Promise<ImdsResult> => ({ ok: false, reason: 'not on EC2: instance metadata service at http://169.254.169.254 is unreachable (ENETUNREACH)' }) };
const credsOk = async (): Promise<void> => undefined;
const noCreds = async (): Promise<void> => {
  throw new Error('Could not load credentials from any providers\nmore detail');
};

describe('buildAwsContext', () => {
  it('takes the region from config, then AWS_REGION, then IMDS', async () => {
    const fromConfig = await buildAwsContext({ region: 'us-west-2' }, { env: { AWS_REGION: 'eu-central-1' }, imds: onEc2(), resolveCredentials: credsOk });
    expect(fromConfig).toMatchObject({ enabled: true, region: 'us-west-2', regionSource: 'config', instanceId: 'i-0abc' });
    const fromEnv = await buildAwsContext({}, { env: { AWS_REGION: 'eu-central-1' }, imds: onEc2(), resolveCredentials: credsOk });
    expect(fromEnv).toMatchObject({ enabled: true, region: 'eu-central-1', regionSource: 'env' });
    const fromImds = await buildAwsContext({}, { env: {}, imds: onEc2('ap-south-1'), resolveCredentials: credsOk });
    expect(fromImds).toMatchObject({ enabled: true, region: 'ap-south-1', regionSource: 'imds' });
  });

  it('is disabled with a reason when no region can be found', async () => {
    const ctx = await buildAwsContext({}, { env: {}, imds: offEc2, resolveCredentials: credsOk });
    expect(ctx.enabled).toBe(false);
    expect(!ctx.enabled && ctx.reason).toBe(
      'no AWS region: set AWS_REGION; not on EC2: instance metadata service at http://169.254.169.254 is unreachable (ENETUNREACH)',
    );
  });

  it('is disabled with a reason when the default chain finds no credentials', async () => {
    const ctx = await buildAwsContext({ region: 'eu-west-1' }, { env: {}, imds: offEc2, resolveCredentials: noCreds });
    expect(ctx).toMatchObject({ enabled: false, reason: 'no AWS credentials: Could not load credentials from any providers' });
  });

  it('uses the real SDK default chain: environment credentials are found, none means disabled', async () => {
    const saved = { ...process.env };
    // Nothing for the chain to find: no keys, no shared files, no instance role.
    Object.assign(process.env, { AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials', AWS_CONFIG_FILE: '/nonexistent/config', AWS_EC2_METADATA_DISABLED: 'true' });
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_PROFILE;
    try {
      const none = await buildAwsContext({ region: 'eu-west-1', imds: false }, { env: {} });
      expect(none.enabled).toBe(false);
      expect(!none.enabled && none.reason).toMatch(/^no AWS credentials: /);
      process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
      process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
      const withKeys = await buildAwsContext({ region: 'eu-west-1', imds: false }, { env: {} });
      expect(withKeys.enabled).toBe(true);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('takes the instance id from configuration off EC2, and lets it win over IMDS on EC2', async () => {
    const off = await buildAwsContext({ region: 'eu-west-1', instanceId: 'i-0123456789abcdef0' }, { env: {}, imds: offEc2, resolveCredentials: credsOk });
    expect(off).toMatchObject({ enabled: true, instanceId: 'i-0123456789abcdef0', identity: undefined });
    const disabled = await buildAwsContext({ instanceId: 'i-0123456789abcdef0' }, { env: {}, imds: offEc2, resolveCredentials: credsOk });
    expect(disabled).toMatchObject({ enabled: false, instanceId: 'i-0123456789abcdef0' });
    const on = await buildAwsContext({ instanceId: 'i-0fedcba9876543210' }, { env: {}, imds: onEc2(), resolveCredentials: credsOk });
    expect(on).toMatchObject({ enabled: true, instanceId: 'i-0fedcba9876543210' });
  });

  it('skips IMDS when AWS_EC2_METADATA_DISABLED=true', async () => {
    let asked = false;
    const ctx = await buildAwsContext({}, { env: { AWS_EC2_METADATA_DISABLED: 'true' }, imds: { identity: async () => ((asked = true), offEc2.identity()) }, resolveCredentials: credsOk });
    expect(asked).toBe(false);
    expect(!ctx.enabled && ctx.reason).toMatch(/IMDS disabled/);
  });

  it('applies endpoint overrides per service and relaxes checksums only then', async () => {
    const ctx = await buildAwsContext(
      { region: 'eu-west-1', endpoints: { CloudFormation: 'http://127.0.0.1:1111' } },
      { env: { AWS_ENDPOINT_URL_CLOUDWATCH: 'http://127.0.0.1:2222', AWS_ENDPOINT_URL: 'http://127.0.0.1:3333' }, imds: offEc2, resolveCredentials: credsOk },
    );
    if (!ctx.enabled) throw new Error(ctx.reason);
    expect(ctx.clientConfig('CloudFormation')).toEqual({
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:1111',
      maxAttempts: 3,
      retryMode: 'standard',
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    expect(ctx.clientConfig('CloudWatch').endpoint).toBe('http://127.0.0.1:2222');
    expect(ctx.clientConfig('S3').endpoint).toBe('http://127.0.0.1:3333');
    const plain = await buildAwsContext({ region: 'eu-west-1' }, { env: {}, imds: offEc2, resolveCredentials: credsOk });
    expect(plain.enabled && plain.clientConfig('S3')).toEqual({ region: 'eu-west-1', maxAttempts: 3, retryMode: 'standard' });
    expect(resolveEndpoint('S3', {}, { AWS_ENDPOINT_URL: 'http://x', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' })).toBeUndefined();
  });
});

describe('SDK v3 reads AWS_ENDPOINT_URL_<SERVICE> by itself', () => {
  let cw: FakeCloudWatch;
  beforeAll(async () => {
    cw = await startFakeCloudWatch();
  });
  afterAll(() => cw.close());

  it('a CloudWatchClient built without `endpoint` talks to AWS_ENDPOINT_URL_CLOUDWATCH', async () => {
    process.env.AWS_ENDPOINT_URL_CLOUDWATCH = cw.url;
    try {
      const client = new CloudWatchClient({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
      const out = await client.send(new DescribeAlarmsCommand({}));
      expect(out.MetricAlarms).toEqual([]);
      expect(cw.requests.map((r) => r.operation)).toEqual(['DescribeAlarms']);
      client.destroy();
    } finally {
      delete process.env.AWS_ENDPOINT_URL_CLOUDWATCH;
    }
  });
});

describe('the instance id setting', () => {
  it('comes from --aws-instance-id, else CERTITRACK_AWS_INSTANCE_ID, and must look like an instance id', () => {
    const base = { manifestsDir: '.' };
    expect(configFrom({ ...base, awsInstanceId: 'i-0123456789abcdef0' }, { CERTITRACK_AWS_INSTANCE_ID: 'i-0fedcba9876543210' }).aws.instanceId).toBe('i-0123456789abcdef0');
    expect(configFrom(base, { CERTITRACK_AWS_INSTANCE_ID: 'i-0fedcba9876543210' }).aws.instanceId).toBe('i-0fedcba9876543210');
    expect(configFrom(base, {}).aws.instanceId).toBeUndefined();
    expect(() => configFrom({ ...base, awsInstanceId: 'web-1' }, {})).toThrow('--aws-instance-id: "web-1" is not an EC2 instance id');
    expect(() => awsInstanceIdFrom(undefined, { CERTITRACK_AWS_INSTANCE_ID: 'i-123' })).toThrow(/^CERTITRACK_AWS_INSTANCE_ID: "i-123"/);
  });
});
