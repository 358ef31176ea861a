import { describe, expect, it } from 'vitest';
import type { BackupManifest, ManifestObject } from '../../src/backup/backup-descriptor.js';
import { planRestore, refuseFutureBackup } from '../../src/backup/restore-plan.js';
import type { PreparedSource } from '../../src/backup/sources.js';

const source = (name: string, info: Record<string, unknown>, selectors: string[]): PreparedSource => ({
  name,
  info,
  compression: 'gzip',
  contentType: 'application/gzip',
  warnings: [],
  produce: async () => undefined,
  target: name,
  selectors,
  restore: async () => undefined,
});
const declared = [
  source('01-postgres-app.dump', { type: 'postgres', service: 'db', database: 'app', user: 'u', compressLevel: 1 }, ['postgres:app']),
  source('02-volume-data.tar.gz', { type: 'volume', name: 'data', dockerName: 'x-data' }, ['volume:data']),
];
const object = (name: string, src: Record<string, unknown>): ManifestObject => ({ name, source: src, bytes: 1, sha256: 'a'.repeat(64), rawBytes: 1, compression: 'gzip', warnings: [] });
const manifest = (objects: ManifestObject[]): BackupManifest => ({ format: 1, backup: 'b', id: '20261127T020000Z-abcd', startedAt: '', finishedAt: '', hostname: 'h', agentVersion: 'v', objects });
const good = [object('01-postgres-app.dump', { type: 'postgres', service: 'db', database: 'app', user: 'old', compressLevel: 6 }), object('02-volume-data.tar', { type: 'volume', name: 'data' })];

describe('planRestore: a stored manifest is believed only where it agrees with the spec', () => {
  it('matches objects to declared sources by target, whatever their names or levels', () => {
    expect(planRestore(manifest(good), declared).map((it) => [it.object.name, it.source.name])).toEqual([
      ['01-postgres-app.dump', '01-postgres-app.dump'],
      ['02-volume-data.tar', '02-volume-data.tar.gz'],
    ]);
  });

  it('refuses an object whose target the spec does not declare, and a declared source the backup lacks', () => {
    const planted = manifest([good[0] as ManifestObject, object('02-file-x', { type: 'file', path: '/etc/cron.d/x' })]);
    expect(() => planRestore(planted, declared)).toThrow(
      'backup 20261127T020000Z-abcd does not match the Backup spec; nothing was restored: object 02-file-x would be restored into file /etc/cron.d/x, which the Backup spec does not declare; the spec\'s source 02-volume-data.tar.gz is not in this backup (restore the others with --only)',
    );
  });

  it('refuses object names that are not plain file names', () => {
    expect(() => planRestore(manifest([object('../x', { type: 'volume', name: 'data' })]), declared)).toThrow(/object "\.\.\/x" is not a plain file name/);
  });

  it('--only picks sources by selector or object name, and names what it cannot find', () => {
    expect(planRestore(manifest(good), declared, ['volume:data']).map((it) => it.object.name)).toEqual(['02-volume-data.tar']);
    expect(planRestore(manifest([good[0] as ManifestObject]), declared, ['01-postgres-app.dump']).map((it) => it.object.name)).toEqual(['01-postgres-app.dump']);
    expect(() => planRestore(manifest(good), declared, ['volume:nope'])).toThrow(/--only volume:nope names no source of this Backup \(postgres:app, volume:data, or an object name\)/);
  });
});

describe('refuseFutureBackup', () => {
  const now = new Date('2026-11-27T02:00:00Z');
  it('takes backups up to the clock-skew tolerance ahead, and refuses later ones', () => {
    expect(() => refuseFutureBackup('20261127T025900Z-abcd', now)).not.toThrow();
    expect(() => refuseFutureBackup('20261127T030100Z-abcd', now)).toThrow(/is dated 2026-11-27T03:01:00.000Z, in the future/);
    expect(() => refuseFutureBackup('latest', now)).toThrow(/not a backup id/);
  });
});
