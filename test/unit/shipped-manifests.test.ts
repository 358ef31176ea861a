import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { hostRules, loadHostPolicy } from '../../src/manifests/host-policy.js';
import { formatManifestError } from '../../src/manifests/source.js';
import { parseCfnTemplate } from '../../src/bootstrap/cfn-yaml.js';
import { ROOT } from '../helpers/cli.js';

/** Every output of the shipped bootstrap template, with a plausible value, so ${cfn:X} must name one of them. */
async function bootstrapOutputs(): Promise<Record<string, string>> {
  const template = parseCfnTemplate(await readFile(join(ROOT, 'bootstrap', 'cloudformation.yaml'), 'utf8')) as { Outputs: Record<string, unknown> };
  return Object.fromEntries(Object.keys(template.Outputs).map((k) => [k, k.endsWith('Arn') ? `arn:aws:sns:eu-west-1:123456789012:${k}` : `value-of-${k.toLowerCase()}`]));
}

/** The production folder validates under the host policy install.sh installs; the example under the built-in default. */
const rulesFor = (folder: string) => (folder === 'manifests' ? { rules: hostRules(loadHostPolicy({ file: join(ROOT, 'policy.yaml') })) } : {});

// The shipped folders must validate with every secret they reference listed in the example file.
describe('shipped manifests', () => {
  for (const folder of ['manifests', 'examples/local']) {
    it(`${folder} validates`, async () => {
      const names = parseEnv(await readFile(join(ROOT, 'manifests', 'secrets.env.example'), 'utf8'));
      const secrets = new StaticSecrets(Object.fromEntries(Object.keys(names).map((k) => [k, `value-of-${k}`])));
      const outputs = await bootstrapOutputs();
      const r = await loadManifests(join(ROOT, folder), { secrets, displayBase: ROOT, cfnOutputs: async () => ({ ok: true, outputs }), ...rulesFor(folder) });
      expect(r.ok ? [] : r.errors.map(formatManifestError)).toEqual([]);
      expect(r.warnings.map(formatManifestError)).toEqual([]);
    });
  }

  it('does not publish PostgreSQL or Redis on the host', async () => {
    const outputs = await bootstrapOutputs();
    const r = await loadManifests(join(ROOT, 'manifests'), { secrets: new StaticSecrets(new Proxy({}, { get: () => 'x' }) as Record<string, string>), cfnOutputs: async () => ({ ok: true, outputs }), ...rulesFor('manifests') });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.state.get('Service', 'postgres')?.spec.ports).toEqual([]);
    expect(r.state.get('Service', 'redis')?.spec.ports).toEqual([]);
    expect(r.state.get('Service', 'nginx')?.spec.ports.map((p) => p.hostPort)).toEqual([80, 443]);
  });
});

describe('the shipped host policy', () => {
  it('widens nothing but the data root and the secrets-file backup, and the example needs none of it', async () => {
    const policy = loadHostPolicy({ file: join(ROOT, 'policy.yaml') });
    expect(policy.allowedRoots).toEqual(['/opt/certitrack', '/etc/certitrack/secrets.env']);
    expect([policy.allowedMountSources, policy.allowedEndpoints, policy.secretEnv]).toEqual([[], [], []]);
    // Without it, the production folder is refused exactly where it reaches /opt/certitrack and /etc.
    const r = await loadManifests(join(ROOT, 'manifests'), { secrets: new StaticSecrets(new Proxy({}, { get: () => 'long-enough-value' }) as Record<string, string>), cfnOutputs: async () => ({ ok: true, outputs: await bootstrapOutputs() }) });
    const fields = r.ok ? [] : r.errors.map((e) => `${e.file.split('/').pop()}:${e.path}`);
    expect(fields.sort()).toEqual(['backup.yaml:spec.sources[1].directory.path', 'backup.yaml:spec.sources[2].file.path', 'certificate.yaml:spec.certFile', 'certificate.yaml:spec.challenge.http01.webroot.path', 'certificate.yaml:spec.keyFile']);
  });
});
