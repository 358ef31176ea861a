import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkIamPolicies, findPolicyStatements, type IamPolicyRules } from '../../src/bootstrap/cfn-iam-policy.js';
import { checkReferences } from '../../src/bootstrap/cfn-references.js';
import { parseCfnTemplate } from '../../src/bootstrap/cfn-yaml.js';

const TEMPLATE_PATH = new URL('../../bootstrap/cloudformation.yaml', import.meta.url);

/**
 * The only actions the instance role may hold on `Resource: "*"`, and why each one must.
 * Adding to this list is a security review, not a convenience.
 */
const STAR_RESOURCE_ACTIONS: Record<string, string> = {
  'cloudwatch:PutMetricData': 'CloudWatch defines no resource type for metrics; the statement is narrowed by the cloudwatch:namespace condition instead.',
  'cloudwatch:DescribeAlarms':
    'The agent lists alarms (by name prefix, then ownership tag) to find drift and orphans; a listing is not a call on named alarms, so an alarm-ARN resource would deny it. Read-only.',
  'ec2:DescribeSnapshots': 'EC2 Describe* calls support no resource-level permissions. Read-only.',
  'ec2:DescribeVolumes': 'EC2 Describe* calls support no resource-level permissions. Read-only.',
  'ec2:DescribeInstances': 'EC2 Describe* calls support no resource-level permissions. Read-only.',
};

const RULES: IamPolicyRules = {
  starResourceActions: STAR_RESOURCE_ACTIONS,
  managedPolicies: ['CloudWatchAgentServerPolicy'],
};

type Json = Record<string, unknown>;
const template = parseCfnTemplate(readFileSync(TEMPLATE_PATH, 'utf8')) as Json;
const resources = template.Resources as Record<string, { Type: string; Condition?: string; Properties: Json; DeletionPolicy?: string }>;
const parameters = template.Parameters as Record<string, { Default?: unknown }>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const only = (type: string) => {
  const found = ofType(type);
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return (found[0] as [string, (typeof resources)[string]])[1];
};

describe('CloudFormation short-form YAML', () => {
  it('turns every short form into its long form', () => {
    const parsed = parseCfnTemplate(`
a: !Ref X
b: !GetAtt Res.Attr.Deep
c: !Sub ['\${A}', { A: !Ref Y }]
d: !If [Cond, !Join ['-', [!Select [0, !Split [',', 'x,y']], !Base64 z]], !Ref AWS::NoValue]
e: !Not [!And [!Or [!Condition C, !Equals [1, 1]]]]
f: !FindInMap [M, K, !GetAZs '']
g: !Cidr [!ImportValue Cidr, 4, 8]
`);
    expect(parsed).toEqual({
      a: { Ref: 'X' },
      b: { 'Fn::GetAtt': ['Res', 'Attr.Deep'] },
      c: { 'Fn::Sub': ['${A}', { A: { Ref: 'Y' } }] },
      d: {
        'Fn::If': [
          'Cond',
          { 'Fn::Join': ['-', [{ 'Fn::Select': [0, { 'Fn::Split': [',', 'x,y'] }] }, { 'Fn::Base64': 'z' }]] },
          { Ref: 'AWS::NoValue' },
        ],
      },
      e: { 'Fn::Not': [{ 'Fn::And': [{ 'Fn::Or': [{ Condition: 'C' }, { 'Fn::Equals': [1, 1] }] }] }] },
      f: { 'Fn::FindInMap': ['M', 'K', { 'Fn::GetAZs': '' }] },
      g: { 'Fn::Cidr': [{ 'Fn::ImportValue': 'Cidr' }, 4, 8] },
    });
  });

  it('rejects an unknown tag rather than silently keeping a string', () => {
    expect(() => parseCfnTemplate('a: !Reff X\n')).toThrow(/Reff/);
  });
});

describe('reference checker', () => {
  it('flags every kind of dangling reference in a broken template', () => {
    const broken = parseCfnTemplate(`
Parameters:
  Used: { Type: String }
  Unused: { Type: String }
Conditions:
  Good: !Equals [!Ref Used, x]
  RefersToResource: !Equals [!Ref Bucket, x]
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Condition: Missing
    DependsOn: Ghost
    Properties:
      BucketName: !Sub '\${Used}-\${Nope}-\${AWS::Region}-\${!Literal}'
      Tags:
        - { Key: a, Value: !GetAtt Phantom.Arn }
        - { Key: b, Value: !If [AlsoMissing, !Ref Used, !Ref AWS::NoValue] }
        - { Key: c, Value: !Sub '\${Bucket.Arn}\${Phantom.Arn}' }
        - { Key: d, Value: !Ref Typo }
        - { Key: e, Value: { 'Fn::Frobnicate': 1 } }
Outputs:
  Out:
    Value: !FindInMap [NoSuchMap, a, b]
`);
    const messages = checkReferences(broken).map((p) => `${p.path}: ${p.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/Conditions\.RefersToResource.*Ref Bucket: conditions may only refer to parameters/),
        expect.stringMatching(/Resources\.Bucket\.Condition: condition Missing is not defined/),
        expect.stringMatching(/Resources\.Bucket\.DependsOn: DependsOn Ghost is not a resource/),
        expect.stringMatching(/Fn::Sub variable Nope is not a parameter/),
        expect.stringMatching(/Fn::GetAtt Phantom is not a resource/),
        expect.stringMatching(/condition AlsoMissing is not defined/),
        expect.stringMatching(/\$\{Phantom\.Arn\}: Phantom is not a resource/),
        expect.stringMatching(/Ref Typo is not a parameter/),
        expect.stringMatching(/unknown intrinsic function Fn::Frobnicate/),
        expect.stringMatching(/mapping NoSuchMap is not defined/),
        expect.stringMatching(/Parameters\.Unused: parameter Unused is never used/),
      ]),
    );
    expect(messages).toHaveLength(11);
  });

  it('finds nothing unresolved in the bootstrap template', () => {
    expect(checkReferences(template)).toEqual([]);
  });
});

describe('IAM policy checker', () => {
  it('flags wildcard actions, star resources off the allow-list, NotAction and foreign managed policies', () => {
    const broken = parseCfnTemplate(`
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      ManagedPolicyArns: [arn:aws:iam::aws:policy/AdministratorAccess]
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - { Effect: Allow, Action: 's3:*', Resource: arn:aws:s3:::b/* }
              - { Effect: Allow, Action: '*', Resource: arn:aws:s3:::b }
              - { Effect: Allow, Action: [ec2:DescribeVolumes, ec2:DeleteVolume], Resource: '*' }
              - { Effect: Allow, NotAction: iam:*, Resource: arn:aws:s3:::b }
              - !If [C, { Effect: Allow, Action: s3:GetObject, Resource: '*' }, !Ref AWS::NoValue]
              - { Effect: Deny, Action: '*', Resource: '*' }
              - { Effect: Allow, Action: ec2:DescribeVolumes, Resource: '*' }
`);
    const messages = checkIamPolicies(broken, RULES).map((p) => p.message);
    expect(messages).toEqual([
      'wildcard action s3:*',
      'wildcard action *',
      'Resource "*" for ec2:DeleteVolume, which are not on the allow-list',
      'Allow with NotAction grants everything else',
      'Resource "*" for s3:GetObject, which are not on the allow-list',
      'managed policy arn:aws:iam::aws:policy/AdministratorAccess is not allowed',
    ]);
  });

  it('finds no over-broad grant in the bootstrap template', () => {
    expect(checkIamPolicies(template, RULES)).toEqual([]);
  });

  it('uses every allow-listed action, so the allow-list cannot rot', () => {
    const starActions = findPolicyStatements(template)
      .filter(({ statement }) => statement.Effect === 'Allow' && statement.Resource === '*')
      .flatMap(({ statement }) => [statement.Action].flat());
    expect(new Set(starActions)).toEqual(new Set(Object.keys(STAR_RESOURCE_ACTIONS)));
  });

  it('limits alarm calls to certitrack- alarms and snapshot calls to tagged resources', () => {
    const byId = new Map(findPolicyStatements(template).map(({ statement }) => [statement.Sid, statement]));
    expect(JSON.stringify(byId.get('AgentAlarms')?.Resource)).toContain(':alarm:certitrack-*');
    for (const sid of ['SnapshotTaggedVolumes', 'CreateTaggedSnapshots', 'TagSnapshotsAtCreation', 'DeleteOwnSnapshots']) {
      expect(JSON.stringify(byId.get(sid)?.Condition), sid).toContain('io.certitrack.managed-by');
    }
    expect(byId.get('PublishAgentMetrics')?.Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': ['CertiTrack', 'CWAgent'] } });
    expect(byId.get('ReadOwnStack')?.Resource).toEqual({ Ref: 'AWS::StackId' });
    // The data volume carries the tag the snapshot statements require, or snapshots could not be taken.
    expect(only('AWS::EC2::Volume').Properties.Tags).toContainEqual({ Key: 'io.certitrack.managed-by', Value: 'certitrack-agent' });
  });
});

describe('bootstrap template', () => {
  it('has the parameters and defaults of the seed', () => {
    expect(parameters.InstanceType?.Default).toBe('t3.medium');
    expect(parameters.DataVolumeSize?.Default).toBe(100);
    expect(parameters.EnableLoadBalancer?.Default).toBe('false');
    expect(parameters.SshSourceCidr?.Default).toBe('');
    for (const p of ['DomainName', 'AlertEmail', 'BackupRetentionDays', 'ManifestsRepositoryUrl', 'ManifestsBranch', 'AgentVersion']) {
      expect(parameters, p).toHaveProperty(p);
    }
  });

  it('requires IMDSv2 on the instance', () => {
    const options = only('AWS::EC2::Instance').Properties.MetadataOptions as Json;
    expect(options.HttpTokens).toBe('required');
    expect(options.HttpPutResponseHopLimit).toBe(1);
  });

  it('encrypts the gp3 data volume', () => {
    const volume = only('AWS::EC2::Volume');
    expect(volume.Properties).toMatchObject({ Encrypted: true, VolumeType: 'gp3', Size: { Ref: 'DataVolumeSize' } });
    expect(volume.DeletionPolicy).toBe('Snapshot');
  });

  it('blocks public access to the backup bucket, encrypts it and refuses plain HTTP', () => {
    const bucket = only('AWS::S3::Bucket');
    expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(JSON.stringify(bucket.Properties.BucketEncryption)).toContain('SSEAlgorithm');
    const rules = (bucket.Properties.LifecycleConfiguration as { Rules: Json[] }).Rules;
    expect(rules.some((r) => r.AbortIncompleteMultipartUpload !== undefined)).toBe(true);
    expect(rules.some((r) => JSON.stringify(r.ExpirationInDays) === JSON.stringify({ Ref: 'BackupRetentionDays' }))).toBe(true);
    const policy = only('AWS::S3::BucketPolicy').Properties.PolicyDocument as { Statement: Json[] };
    expect(policy.Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('opens 80/443 and keeps SSH to the VPC unless told otherwise', () => {
    const ingress = resources.WebSecurityGroup?.Properties.SecurityGroupIngress as Json[];
    const rule = (port: number) => ingress.find((r) => r.FromPort === port) as Json;
    expect(rule(80).CidrIp).toEqual({ 'Fn::If': ['UseLoadBalancer', { Ref: 'VpcCidr' }, '0.0.0.0/0'] });
    expect(rule(443).CidrIp).toEqual({ 'Fn::If': ['UseLoadBalancer', { Ref: 'VpcCidr' }, '0.0.0.0/0'] });
    expect(rule(22).CidrIp).toEqual({ 'Fn::If': ['HasSshSourceCidr', { Ref: 'SshSourceCidr' }, { Ref: 'VpcCidr' }] });
  });

  it('puts the load balancer and NAT gateway behind the UseLoadBalancer condition', () => {
    for (const type of ['AWS::ElasticLoadBalancingV2::LoadBalancer', 'AWS::EC2::NatGateway']) {
      expect(only(type).Condition, type).toBe('UseLoadBalancer');
    }
    expect((template.Conditions as Json).UseLoadBalancer).toEqual({ 'Fn::Equals': [{ Ref: 'EnableLoadBalancer' }, 'true'] });
  });

  it('creates the seed log groups with their retention and leaves alarms to the agent', () => {
    const retention = Object.fromEntries(ofType('AWS::Logs::LogGroup').map(([, r]) => [r.Properties.LogGroupName, r.Properties.RetentionInDays]));
    expect(retention).toEqual({
      '/aws/ec2/certitrack/application': 30,
      '/aws/ec2/certitrack/nginx': 30,
      '/aws/ec2/certitrack/database': 7,
    });
    expect(ofType('AWS::CloudWatch::Alarm')).toEqual([]);
    expect(only('AWS::SNS::Subscription').Properties).toMatchObject({ Protocol: 'email', Endpoint: { Ref: 'AlertEmail' } });
  });

  it('boots the host through scripts/install.sh with the stack values', () => {
    const userData = JSON.stringify(only('AWS::EC2::Instance').Properties.UserData);
    for (const expected of ['scripts/install.sh', '${AWS::Region}', '${AWS::StackName}', '${DataVolume}', '${ManifestsRepositoryUrl}', '${AgentVersion}']) {
      expect(userData).toContain(expected);
    }
  });

  it('outputs what the agent reads', () => {
    expect(Object.keys(template.Outputs as Json)).toEqual(
      expect.arrayContaining(['BackupBucketName', 'AlertTopicArn', 'InstanceId', 'PublicAddress', 'DataVolumeId']),
    );
  });
});
