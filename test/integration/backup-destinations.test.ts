import { AWS_RETRY } from '../../src/aws/context.js';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createS3Client, S3Destination } from '../../src/adapters/s3-destination.js';
import { buildAwsContext } from '../../src/aws/context.js';
import { destinationFactory } from '../../src/backup/destination-factory.js';
import { configFrom } from '../../src/config.js';
import { backupSpec } from '../../src/manifests/kinds/backup.js';
import type { Resource } from '../../src/manifests/resource.js';
import type { BackupSpec } from '../../src/manifests/kinds/backup.js';
import { buildBackupTooling } from '../../src/main.js';
import { removeDir, tempDir } from '../helpers/docker.js';
import { writeManifest } from '../helpers/manifests.js';
import { type RunningS3rver, startS3rver } from '../helpers/s3rver-server.js';

// S3 destinations start from the AWS context (region, AWS_ENDPOINT_URL_S3) like every other AWS
// client, and a Backup's own region and endpoint win. A recording proxy in front of a real s3rver
// shows where each request went and which region signed it.
let s3: RunningS3rver;
let proxy: Server;
let proxyUrl: string;
let seen: { path: string; region: string }[] = [];

const backup = (name: string, s3Spec: Record<string, unknown>): Resource<BackupSpec> => ({
  kind: 'Backup',
  name,
  labels: {},
  source: { file: '/m/b.yaml', dir: '/m' } as Resource['source'],
  spec: backupSpec.parse({ sources: [{ file: { path: '/etc/hostname' } }], destination: { s3: { bucket: 'backups', ...s3Spec } } }),
});
const put = (dest: S3Destination | { put: S3Destination['put'] }, key: string) => dest.put(key, Readable.from([Buffer.from('x')]));
const direct = () => new S3Destination(createS3Client({ endpoint: s3.endpoint }), { bucket: 'backups' });

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  s3 = await startS3rver(['backups']);
  const target = new URL(s3.endpoint);
  proxy = createServer((req, res) => {
    seen.push({ path: req.url ?? '', region: /Credential=[^/]+\/\d+\/([^/]+)\/s3\//.exec(req.headers.authorization ?? '')?.[1] ?? '' });
    const upstream = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => proxy?.close(() => r()));
  await s3?.stop();
});
beforeEach(() => {
  seen = [];
});

describe('the destination factory', () => {
  it('builds S3 clients from the base config: its endpoint and region', async () => {
    const factory = destinationFactory({ localDir: '/unused', s3: { region: 'eu-west-1', endpoint: proxyUrl, ...AWS_RETRY } });
    const { destination, prefix } = factory(backup('db', { prefix: 'prod', forcePathStyle: true }));
    expect(prefix).toBe('prod');
    await put(destination as S3Destination, 'prod/db/from-base');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((r) => r.path.startsWith('/backups/prod/db/from-base') && r.region === 'eu-west-1')).toBe(true);
    expect((await direct().list('prod/db/')).map((o) => o.key)).toEqual(['prod/db/from-base']);
  });

  it('a spec\'s own endpoint and region win over the base', async () => {
    const factory = destinationFactory({ localDir: '/unused', s3: { region: 'eu-west-1', endpoint: 'http://127.0.0.1:1', ...AWS_RETRY } });
    await put(factory(backup('own', { endpoint: proxyUrl, region: 'us-west-2', forcePathStyle: true })).destination as S3Destination, 'own/k');
    expect(seen.map((r) => r.region)).toContain('us-west-2');
    expect(seen.every((r) => r.region === 'us-west-2')).toBe(true);
  });

  it('local destinations: a relative path is the manifest folder\'s, none is the agent\'s own directory', () => {
    const factory = destinationFactory({ localDir: '/var/lib/certitrack/backups', s3: { region: 'us-east-1', ...AWS_RETRY } });
    const res = backup('db', {});
    expect(factory({ ...res, spec: { ...res.spec, destination: { local: { path: 'dumps' } } } }).destination.description).toBe('/m/dumps');
    expect(factory({ ...res, spec: { ...res.spec, destination: undefined } }).destination.description).toBe('/var/lib/certitrack/backups');
  });
});

describe('the composition root gives the CLI\'s catalog the same S3 settings as the agent', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('manifests');
    await writeManifest(dir, 'b.yaml', [{ kind: 'Backup', name: 'nightly', spec: { sources: [{ file: { path: '/etc/hostname' } }], destination: { s3: { bucket: 'backups', forcePathStyle: true } } } }]);
    for (const file of ['01-file-hostname.gz', 'manifest.json']) await put(direct(), `nightly/20260302T020000Z-abcd/${file}`);
  });
  afterAll(() => removeDir(dir));

  it('with AWS enabled: AWS_ENDPOINT_URL_S3 and the context\'s region', async () => {
    const aws = await buildAwsContext({}, { env: { AWS_REGION: 'eu-central-1', AWS_ENDPOINT_URL_S3: proxyUrl }, imds: { identity: async () => ({ ok: false, reason: 'off EC2' }) }, resolveCredentials: async () => undefined });
    const catalog = await buildBackupTooling(configFrom({ manifestsDir: dir, instance: 'cat-test' }), { aws });
    const listing = await catalog.list('nightly');
    expect(listing.backups.map((b) => [b.id, b.complete])).toEqual([['20260302T020000Z-abcd', true]]);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((r) => r.region === 'eu-central-1')).toBe(true);
  });

  it('with AWS disabled: the endpoint override from the environment still applies', async () => {
    const aws = await buildAwsContext({}, { env: {}, imds: { identity: async () => ({ ok: false, reason: 'off EC2' }) } });
    expect(aws.enabled).toBe(false);
    const saved = process.env.AWS_ENDPOINT_URL_S3;
    process.env.AWS_ENDPOINT_URL_S3 = proxyUrl;
    try {
      const catalog = await buildBackupTooling(configFrom({ manifestsDir: dir, instance: 'cat-test' }), { aws });
      expect((await catalog.list('nightly')).backups).toHaveLength(1);
      expect(seen.length).toBeGreaterThan(0);
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_S3;
      else process.env.AWS_ENDPOINT_URL_S3 = saved;
    }
  });
});
