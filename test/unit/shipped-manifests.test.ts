import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { formatManifestError } from '../../src/manifests/source.js';
import { ROOT } from '../helpers/cli.js';

// The shipped folders must validate with every secret they reference listed in the example file.
describe('shipped manifests', () => {
  for (const folder of ['manifests', 'examples/local']) {
    it(`${folder} validates`, async () => {
      const names = parseEnv(await readFile(join(ROOT, 'manifests', 'secrets.env.example'), 'utf8'));
      const secrets = new StaticSecrets(Object.fromEntries(Object.keys(names).map((k) => [k, `value-of-${k}`])));
      const r = await loadManifests(join(ROOT, folder), { secrets, displayBase: ROOT });
      expect(r.ok ? [] : r.errors.map(formatManifestError)).toEqual([]);
    });
  }

  it('does not publish PostgreSQL or Redis on the host', async () => {
    const r = await loadManifests(join(ROOT, 'manifests'), { secrets: new StaticSecrets(new Proxy({}, { get: () => 'x' }) as Record<string, string>) });
    if (!r.ok) return;
    expect(r.state.get('Service', 'postgres')?.spec.ports).toEqual([]);
    expect(r.state.get('Service', 'redis')?.spec.ports).toEqual([]);
    expect(r.state.get('Service', 'nginx')?.spec.ports.map((p) => p.hostPort)).toEqual([80, 443]);
  });
});
