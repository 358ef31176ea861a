import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backupSpec } from '../../src/manifests/kinds/backup.js';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('Backup spec', () => {
  it('applies defaults: manual only, local destination, gzip 6, keep everything, custom format', () => {
    const spec = backupSpec.parse({ sources: [{ postgres: { service: 'db', database: 'certitrack' } }] });
    expect(spec.schedule).toBeUndefined();
    expect(spec.destination).toBeUndefined();
    expect(spec.compression).toEqual({ algorithm: 'gzip', level: 6 });
    expect(spec.retention).toEqual({});
    expect(spec.sources[0]).toEqual({ postgres: { service: 'db', database: 'certitrack', user: 'postgres', format: 'custom', compressLevel: 1 } });
    expect(spec.concurrencyPolicy).toBe('Forbid');
  });

  it('parses the nightly example of the issue', () => {
    const spec = backupSpec.parse({
      schedule: '0 2 * * *',
      timeZone: 'Europe/Madrid',
      sources: [{ postgres: { service: 'postgres', database: 'certitrack', user: 'certitrack_user' } }, { directory: { path: '/opt/certitrack/storage/documents' } }, { file: { path: '.env' } }],
      destination: { s3: { bucket: 'certitrack-backups', prefix: 'prod', region: 'eu-west-1' } },
      retention: { keepDaily: 7, keepWeekly: 4, keepMonthly: 12, keepWithin: '2d' },
    });
    expect(spec.destination).toEqual({ s3: { bucket: 'certitrack-backups', prefix: 'prod', region: 'eu-west-1', forcePathStyle: false, serverSideEncryption: 'AES256' } });
    expect(spec.retention.keepWithin).toBe(2 * 86_400_000);
  });

  it.each([
    [{ sources: [] }, /at least 1|>=1/i],
    [{ sources: [{ ebsSnapshot: {} }, { file: { path: 'x' } }] }, /cannot be combined/],
    [{ sources: [{ ebsSnapshot: {} }], destination: { local: { path: '/b' } } }, /has no destination/],
    [{ sources: [{ file: { path: 'x' } }], destination: { s3: { bucket: 'b-1', kmsKeyId: 'k' } } }, /needs serverSideEncryption: aws:kms/],
    [{ sources: [{ file: { path: 'x' } }], schedule: '0 2 * *' }, /expected 5 fields/],
    [{ sources: [{ file: { path: 'x' } }], destination: { s3: { bucket: 'b-1', prefix: '../other' } } }, /\.\. segments/],
    [{ sources: [{ ebsSnapshot: { volumes: ['disk-1'] } }] }, /EBS volume id/],
  ])('rejects %j', (input, message) => {
    const res = backupSpec.safeParse(input);
    expect(res.success).toBe(false);
    expect(JSON.stringify(res.error?.issues)).toMatch(message);
  });

  it('reports an undeclared service, volume and secret across documents', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'backup-spec-'));
    dirs.push(dir);
    await writeFile(
      join(dir, 'b.yaml'),
      `apiVersion: certitrack.io/v1
kind: Backup
metadata: { name: nightly }
spec:
  sources:
    - postgres: { service: db, database: app, password: { secretRef: NOPE } }
    - volume: { name: data }
`,
    );
    const res = await loadManifests(dir, { secrets: new StaticSecrets({}), displayBase: dir });
    expect(res.ok).toBe(false);
    const messages = res.ok ? [] : res.errors.map((e) => `${e.path}: ${e.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/sources\[0\].postgres.service: service "db" is not declared/),
        expect.stringMatching(/password.*secret NOPE is not defined/),
        expect.stringMatching(/sources\[1\].volume.name: volume "data" is not declared/),
      ]),
    );
  });
});
