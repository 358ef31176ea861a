import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { StackOutputs } from '../../src/aws/stack-outputs.js';
import { hasCfnRefs, resolveCfnRefs } from '../../src/manifests/cfn-refs.js';

const OUTPUTS = { AlertTopicArn: 'arn:aws:sns:eu-west-1:123456789012:certitrack-alerts', BackupBucketName: 'certitrack-backups-123' };

describe('resolveCfnRefs', () => {
  it('replaces whole and embedded references, deep in maps and lists, without touching keys or the input', () => {
    const input = {
      spec: {
        actions: { alarm: ['${cfn:AlertTopicArn}'] },
        bucket: 's3://${cfn:BackupBucketName}/db/',
        '${cfn:AlertTopicArn}': 'key stays',
        n: 3,
        flag: true,
        none: null,
      },
    };
    const frozen = structuredClone(input);
    const { value, problems } = resolveCfnRefs(input, OUTPUTS);
    expect(problems).toEqual([]);
    expect(value).toEqual({
      spec: {
        actions: { alarm: ['arn:aws:sns:eu-west-1:123456789012:certitrack-alerts'] },
        bucket: 's3://certitrack-backups-123/db/',
        '${cfn:AlertTopicArn}': 'key stays',
        n: 3,
        flag: true,
        none: null,
      },
    });
    expect(input).toEqual(frozen);
  });

  it('reports an unknown output at its path, listing the known ones', () => {
    const { problems } = resolveCfnRefs({ spec: { actions: { alarm: ['ok', '${cfn:AlertTopic}'] } } }, OUTPUTS);
    expect(problems).toEqual([
      { path: ['spec', 'actions', 'alarm', 1], code: 'unknown', message: 'unknown CloudFormation output "AlertTopic" (stack outputs: AlertTopicArn, BackupBucketName)' },
    ]);
  });

  it('reports why when the outputs are unavailable, and needs nothing when no reference is used', () => {
    const { problems } = resolveCfnRefs({ a: '${cfn:AlertTopicArn}' }, undefined, 'no AWS region');
    expect(problems).toEqual([{ path: ['a'], code: 'unavailable', message: 'cannot resolve ${cfn:AlertTopicArn}: stack outputs unavailable (no AWS region)' }]);
    expect(resolveCfnRefs({ a: 'plain', b: ['x'] }, undefined).problems).toEqual([]);
  });

  it('keeps $${cfn:...} as a literal and rejects malformed names', () => {
    const { value, problems } = resolveCfnRefs({ a: 'echo $${cfn:AlertTopicArn}', b: '${cfn:bad-name}' }, OUTPUTS);
    expect(value).toEqual({ a: 'echo ${cfn:AlertTopicArn}', b: '${cfn:bad-name}' });
    expect(problems).toHaveLength(1);
    expect(problems[0]?.path).toEqual(['b']);
    expect(hasCfnRefs({ a: 'echo $${cfn:X}' })).toBe(false);
    expect(hasCfnRefs({ a: [{ b: '${cfn:X}' }] })).toBe(true);
  });
});

describe('StackOutputs', () => {
  const cfn = mockClient(CloudFormationClient);
  afterEach(() => cfn.reset());

  it('reads the outputs of the configured stack once and caches them', async () => {
    cfn.on(DescribeStacksCommand, { StackName: 'certitrack' }).resolves({
      Stacks: [{ StackName: 'certitrack', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [
        { OutputKey: 'AlertTopicArn', OutputValue: OUTPUTS.AlertTopicArn },
        { OutputKey: 'BackupBucketName', OutputValue: OUTPUTS.BackupBucketName },
      ] }],
    });
    let now = 0;
    const outputs = new StackOutputs(new CloudFormationClient({ region: 'eu-west-1' }), 'certitrack', { ttlMs: 1000, now: () => now });
    expect(await outputs.get()).toEqual({ ok: true, outputs: OUTPUTS });
    await outputs.get();
    expect(cfn.commandCalls(DescribeStacksCommand)).toHaveLength(1);
    now = 2000;
    await outputs.get();
    expect(cfn.commandCalls(DescribeStacksCommand)).toHaveLength(2);
  });

  it('says why outputs are unavailable, and does not cache failures', async () => {
    cfn.on(DescribeStacksCommand).rejectsOnce(Object.assign(new Error('Stack with id certitrack does not exist'), { name: 'ValidationError' })).resolves({ Stacks: [] });
    const outputs = new StackOutputs(new CloudFormationClient({ region: 'eu-west-1' }), 'certitrack');
    expect(await outputs.get()).toEqual({ ok: false, reason: 'cannot describe stack certitrack: Stack with id certitrack does not exist' });
    expect(await outputs.get()).toEqual({ ok: false, reason: 'stack certitrack not found' });
    expect(await new StackOutputs(undefined, 'x', {}, 'no AWS credentials: none').get()).toEqual({ ok: false, reason: 'no AWS credentials: none' });
    expect(await new StackOutputs(new CloudFormationClient({ region: 'eu-west-1' }), undefined).get()).toMatchObject({ ok: false, reason: /no CloudFormation stack configured/ });
  });
});
