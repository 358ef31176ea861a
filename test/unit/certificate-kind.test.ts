import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderCertList } from '../../src/cli/cert-commands.js';
import { certRowsFromDisk } from '../../src/cli/cert-disk-rows.js';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { DEFAULT_POLICY, hostRules } from '../../src/manifests/host-policy.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cert-kind-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const service = 'apiVersion: certitrack.io/v1\nkind: Service\nmetadata: { name: nginx }\nspec: { image: nginx:alpine }\n---\n';

async function load(yaml: string, secrets: Record<string, string> = {}, allowedRoots: string[] = []) {
  const folder = await mkdtemp(join(dir, 'm-'));
  await writeFile(join(folder, 'stack.yaml'), yaml);
  return loadManifests(folder, { secrets: new StaticSecrets(secrets), displayBase: folder, rules: hostRules({ ...DEFAULT_POLICY, allowedRoots }) });
}

describe('Certificate manifests', () => {
  it('apply defaults: self-signed, ECDSA P-256, agent http-01, nginx -s reload', async () => {
    const res = await load(`${service}apiVersion: certitrack.io/v1
kind: Certificate
metadata: { name: site }
spec:
  domains: [CertiTrack.Company.com]
  certFile: ./ssl/cert.pem
  keyFile: ./ssl/key.pem
  reload: [nginx, { service: nginx, signal: SIGHUP }]
`);
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    expect(res.state.get('Certificate', 'site')?.spec).toEqual({
      domains: ['certitrack.company.com'],
      issuer: { selfSigned: { validity: 90 * 86_400_000 } },
      keyType: 'ecdsa-p256',
      certFile: './ssl/cert.pem',
      keyFile: './ssl/key.pem',
      reload: [{ service: 'nginx', command: ['nginx', '-s', 'reload'] }, { service: 'nginx', signal: 'SIGHUP' }],
      challenge: { http01: { mode: 'agent' } },
    });
    const rows = await certRowsFromDisk(res.state);
    expect(renderCertList(rows)).toMatch(/^NAME\s+READY\s+DOMAINS[\s\S]*site\s+False\s+certitrack\.company\.com\s+selfSigned[\s\S]*no certificate file/);
  });

  it('reports every problem: unknown reload service, wildcard over http-01, command and signal, shared files, missing secret, key in another folder', async () => {
    const doc = (name: string, body: string) => `apiVersion: certitrack.io/v1\nkind: Certificate\nmetadata: { name: ${name} }\nspec:\n${body}---\n`;
    const acme = '  issuer: { acme: { directory: letsencrypt, email: ops@company.com, eab: { kid: k, hmacKey: { secretRef: EAB_HMAC } } } }\n';
    const res = await load(
      doc('dup', '  domains: [a.company.com, a.company.com]\n  certFile: ./1.pem\n  keyFile: ./1.key\n') +
        doc('wild', `  domains: ["*.company.com"]\n${acme}  certFile: ./2.pem\n  keyFile: ./2.key\n`) +
        doc('both', '  domains: [c.company.com]\n  certFile: ./3.pem\n  keyFile: ./3.key\n  reload: [{ service: nginx, command: [nginx, -s, reload], signal: SIGHUP }]\n') +
        doc('first', `  domains: [d.company.com]\n${acme}  certFile: ./ssl/cert.pem\n  keyFile: ./ssl/d.key\n`) +
        doc('second', '  domains: [e.company.com]\n  certFile: ./ssl/cert.pem\n  keyFile: ./ssl/e.key\n  reload: [proxy]\n') +
        doc('split', '  domains: [f.company.com]\n  certFile: ./certs/f.pem\n  keyFile: ./private/f.key\n'),
    );
    expect(res.ok).toBe(false);
    if (res.ok) return;
    const messages = res.errors.map((e) => `${e.path}: ${e.message}`).join('\n');
    expect(messages).toMatch(/spec\.domains: domains must not repeat/);
    expect(messages).toMatch(/spec\.domains: wildcard names need dns-01/);
    expect(messages).toMatch(/spec\.reload\[0\]: set command or signal, not both/);
    expect(messages).toMatch(/service "proxy" is not declared/);
    expect(messages).toMatch(/ssl\/cert\.pem is already written by Certificate "first"/);
    expect(messages).toMatch(/secret EAB_HMAC is not defined/);
    expect(messages).toMatch(/spec\.keyFile: keyFile must be in the same folder as certFile \(.*certs\): the pair is swapped as one unit there/);
  });

  it('accepts a full ACME certificate with a webroot challenge, its files in a root the host policy allows', async () => {
    const res = await load(`${service}apiVersion: certitrack.io/v1
kind: Certificate
metadata: { name: site }
spec:
  domains: [certitrack.company.com]
  issuer: { acme: { directory: letsencrypt, email: ops@company.com } }
  keyType: rsa-2048
  certFile: ../nginx/ssl/cert.pem
  keyFile: ../nginx/ssl/key.pem
  reload: [nginx]
  renewBefore: 30d
  challenge: { http01: { webroot: { path: ../nginx/acme-challenge } } }
`, {}, [join(dir, 'nginx')]);
    expect(res.ok ? res.state.get('Certificate', 'site')?.spec : res.errors).toMatchObject({
      issuer: { acme: { directory: 'letsencrypt', skipChallengeVerification: false } },
      renewBefore: 30 * 86_400_000,
      challenge: { http01: { mode: 'webroot', path: '../nginx/acme-challenge' } },
    });
  });
});
