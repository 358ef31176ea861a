import { mkdir, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { formatManifestError } from '../../src/manifests/source.js';
import { tempDir } from '../helpers/docker.js';
import { doc, toYaml, writeManifest } from '../helpers/manifests.js';

// Git mode loads an immutable checkout but addresses its resources at the stable workspace, so a
// relative path means the same thing in every commit (issue 11, item 6).
const secrets = new StaticSecrets({});
const nginx = (volumes: string[]) => doc('Service', 'nginx', { image: 'x:1', volumes });

describe('loading with addressAs', () => {
  it('moves every source.dir from the loaded folder to the same place under the stable one', async () => {
    const checkout = await realpath(await tempDir('checkout'));
    await writeFile(join(checkout, 'nginx.conf'), 'events {}\n');
    await writeManifest(checkout, 'nginx.yaml', [nginx(['./nginx.conf:/etc/nginx/nginx.conf:ro'])]);
    await writeManifest(checkout, 'apps/api.yaml', [doc('Service', 'api', { image: 'x:1' })]);
    const r = await loadManifests(checkout, { secrets, displayBase: checkout, addressAs: '/var/lib/agent/git/workspace/manifests' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.state.get('Service', 'nginx')!.source.dir).toBe('/var/lib/agent/git/workspace/manifests');
    expect(r.state.get('Service', 'api')!.source.dir).toBe('/var/lib/agent/git/workspace/manifests/apps');
    // Messages still name the file as the repository does.
    expect(r.state.get('Service', 'api')!.source.file).toBe('apps/api.yaml');
  });

  it('gives the same revision as loading the folder itself', async () => {
    const checkout = await tempDir('checkout');
    await writeManifest(checkout, 'a.yaml', [doc('Service', 'a', { image: 'x:1' })]);
    const plain = await loadManifests(checkout, { secrets });
    const addressed = await loadManifests(checkout, { secrets, addressAs: '/elsewhere' });
    expect(plain.ok && addressed.ok && plain.state.revision === addressed.state.revision).toBe(true);
  });

  it('checks referenced files in the loaded folder, not in the stable one', async () => {
    const checkout = await tempDir('checkout');
    await writeManifest(checkout, 'nginx.yaml', [nginx(['./nginx.conf:/etc/nginx/nginx.conf:ro'])]);
    const stable = await tempDir('workspace');
    // The workspace still has the file from an earlier commit; the commit being loaded does not.
    await writeFile(join(stable, 'nginx.conf'), 'events {}\n');
    const r = await loadManifests(checkout, { secrets, displayBase: checkout, addressAs: stable });
    expect(r.ok ? [] : r.errors.map(formatManifestError)).toEqual([expect.stringMatching(/^nginx\.yaml:\d+:\d+: spec\.volumes\[0\]: bind mount source .*nginx\.conf does not exist$/)]);
  });

  it('refuses a keyFile that would overwrite a stranger\'s file where the agent writes, in the stable folder', async () => {
    const checkout = await realpath(await tempDir('checkout'));
    await writeManifest(checkout, 'cert.yaml', [doc('Certificate', 'site', { domains: ['localhost'], issuer: { selfSigned: {} }, certFile: './ssl/cert.pem', keyFile: './ssl/key.pem' })]);
    const stable = await realpath(await tempDir('workspace'));
    await mkdir(join(stable, 'ssl'));
    await writeFile(join(stable, 'ssl', 'key.pem'), 'notes someone keeps here\n');
    const r = await loadManifests(checkout, { secrets, displayBase: checkout, addressAs: stable });
    expect(r.ok ? [] : r.errors.map(formatManifestError)).toEqual([
      `cert.yaml:11:12: spec.keyFile: ${join(stable, 'ssl', 'key.pem')} already exists and is not a private key the agent wrote; the agent will not overwrite it. Remove or move it if it may be replaced`,
    ]);
  });

  it('leaves source.dir as the folder itself without it (folder mode is unchanged)', async () => {
    const dir = await tempDir('folder');
    await mkdir(join(dir, 'sub'));
    await writeManifest(dir, 'sub/a.yaml', [doc('Service', 'a', { image: 'x:1' })]);
    const r = await loadManifests(dir, { secrets });
    expect(r.ok && r.state.get('Service', 'a')!.source.dir).toBe(join(dir, 'sub'));
  });
});
