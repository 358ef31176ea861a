import { describe, expect, it } from 'vitest';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { formatManifestError } from '../../src/manifests/source.js';
import { removeDir, tempDir } from '../helpers/docker.js';
import { doc, writeManifest } from '../helpers/manifests.js';

// Only the Service reconciler mounts an external Volume by its real name; a Schedule's one-off
// container and a Backup's helper would mount `<instance>-<name>`, a new empty volume, so both are
// refused when the manifests load rather than backing up or touching nothing.
async function errorsOf(docs: Parameters<typeof writeManifest>[2]): Promise<string[]> {
  const dir = await tempDir('extvol-checks');
  try {
    await writeManifest(dir, 'all.yaml', docs);
    const r = await loadManifests(dir, { secrets: new StaticSecrets({}), displayBase: dir });
    return r.ok ? [] : r.errors.map(formatManifestError);
  } finally {
    await removeDir(dir);
  }
}

describe('external volumes in manifests', () => {
  const ext = doc('Volume', 'pgdata', { external: true, name: 'prod_pgdata' });

  it('are accepted as Service mounts, with or without a real name', async () => {
    expect(await errorsOf([ext, doc('Volume', 'plain', { external: true }), doc('Service', 'db', { image: 'x:1', volumes: ['pgdata:/data', 'plain:/plain'] })])).toEqual([]);
  });

  it('are refused as a Schedule run volume and as a Backup volume source', async () => {
    const errors = await errorsOf([
      ext,
      doc('Schedule', 'job', { schedule: '@daily', run: { image: 'x:1', command: ['true'], volumes: ['pgdata:/data'] } }),
      doc('Backup', 'nightly', { sources: [{ volume: { name: 'pgdata' } }], destination: { local: { path: './backups' } } }),
    ]);
    expect(errors).toEqual([
      expect.stringMatching(/spec\.run\.volumes\[0\]: volume "pgdata" is external; only Services can mount external volumes$/),
      expect.stringMatching(/spec\.sources\[0\]\.volume\.name: volume "pgdata" is external; Backup volume sources take only volumes the agent owns$/),
    ]);
  });

  it('reject a real name that Docker would refuse', async () => {
    expect(await errorsOf([doc('Volume', 'bad', { external: true, name: 'has space' })])).toEqual([expect.stringMatching(/spec\.name: expected a Docker volume name/)]);
  });
});
