import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCfnTemplate } from '../../src/bootstrap/cfn-yaml.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { exportedObjects, exportFolder, filesUnder, find, objectProblems, parseRendered } from '../helpers/kubernetes.js';
import { doc, writeManifest } from '../helpers/manifests.js';
import { writeExport } from '../../src/export/kubernetes/write.js';

let tmp: string;
let secretsFile: string;
let secrets: Record<string, string>;
let outputsFile: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'export-k8s-cli-'));
  // Real-looking secret values for every key the shipped folders use, in a secrets file and in the
  // environment, where the agent would find them: none of them may reach the export.
  const keys = Object.keys(parseEnv(await readFile(join(ROOT, 'manifests', 'secrets.env.example'), 'utf8')));
  secrets = Object.fromEntries(keys.map((k, i) => [k, `s3cr3t-${k.toLowerCase()}-${i}-Qx7`]));
  secretsFile = join(tmp, 'secrets.env');
  await writeFile(secretsFile, Object.entries(secrets).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  const template = parseCfnTemplate(await readFile(join(ROOT, 'bootstrap', 'cloudformation.yaml'), 'utf8')) as { Outputs: Record<string, unknown> };
  const outputs = Object.fromEntries(Object.keys(template.Outputs).map((k) => [k, k.endsWith('Arn') ? `arn:aws:sns:eu-west-1:123456789012:${k}` : `value-of-${k.toLowerCase()}`]));
  outputsFile = join(tmp, 'outputs.json');
  await writeFile(outputsFile, JSON.stringify(outputs));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

const exportCli = (args: string[]) => runCli(['export', 'kubernetes', ...args], { CERTITRACK_SECRETS_FILE: secretsFile, ...secrets });

/** kubectl kustomize on a copy of the export, with secrets.env filled in as the user would. */
async function render(out: string): Promise<string> {
  const copy = `${out}-render`;
  await cp(out, copy, { recursive: true });
  const keys = Object.keys(parseEnv(await readFile(join(copy, 'secrets.env.example'), 'utf8')));
  await writeFile(join(copy, 'secrets.env'), keys.map((k) => `${k}=${secrets[k] ?? 'x'}`).join('\n') + '\n');
  return execFileSync('kubectl', ['kustomize', copy], { encoding: 'utf8' });
}

describe('certitrack-agent export kubernetes', () => {
  for (const [folder, extra] of [
    ['examples/local', []],
    ['manifests', ['--allow-host-path', '--namespace', 'certitrack']],
  ] as const) {
    it(`${folder}: valid objects, rendered by kubectl kustomize, no secret value anywhere`, async () => {
      const out = join(tmp, folder.replace('/', '-'));
      const r = await exportCli([join(ROOT, folder), '--out', out, '--stack-outputs', outputsFile, ...extra]);
      expect(r.stderr).toContain('did not translate exactly');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^wrote \d+ object\(s\) in \d+ file\(s\)/);

      const objects = await exportedObjects(out);
      expect(objects.length).toBeGreaterThan(10);
      expect(objects.flatMap(objectProblems)).toEqual([]);

      for (const [path, content] of await filesUnder(out)) {
        const text = content.toString('utf8');
        for (const value of Object.values(secrets)) {
          expect(text.includes(value), `${path} contains a secret`).toBe(false);
          expect(text.includes(Buffer.from(value).toString('base64')), `${path} contains a secret (base64)`).toBe(false);
        }
      }
      const example = await readFile(join(out, 'secrets.env.example'), 'utf8');
      expect(Object.values(parseEnv(example)).every((v) => v === '')).toBe(true);

      const rendered = parseRendered(await render(out));
      expect(rendered.flatMap(objectProblems)).toEqual([]);
      const secret = rendered.find((o) => o.kind === 'Secret' && o.metadata.name.startsWith('certitrack-secrets-'));
      expect(Object.keys(secret?.data ?? {}).sort()).toEqual(Object.keys(parseEnv(example)).sort());
      expect(Buffer.from(secret?.data?.DB_PASSWORD ?? '', 'base64').toString()).toBe(secrets.DB_PASSWORD);
      // kustomize gave the Secret a content hash and rewrote every reference to it.
      const backend = JSON.stringify(find(rendered, 'Deployment', 'backend'));
      expect(backend).toContain(`"name":"${secret?.metadata.name}"`);
      if (folder === 'manifests') expect(rendered.every((o) => o.kind === 'Namespace' || o.metadata.namespace === 'certitrack')).toBe(true);
    });
  }

  it('never overwrites files without --force, and writes nothing on an error', async () => {
    const out = join(tmp, 'again');
    expect((await exportCli([join(ROOT, 'examples/local'), '--out', out])).code).toBe(0);
    const before = await readFile(join(out, 'kustomization.yaml'), 'utf8');
    await writeFile(join(out, 'kustomization.yaml'), '# edited\n');
    const refused = await exportCli([join(ROOT, 'examples/local'), '--out', out]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/already has \d+ of the files the export writes .*pass --force/);
    expect(await readFile(join(out, 'kustomization.yaml'), 'utf8')).toBe('# edited\n');
    expect((await exportCli([join(ROOT, 'examples/local'), '--out', out, '--force'])).code).toBe(0);
    expect(await readFile(join(out, 'kustomization.yaml'), 'utf8')).toBe(before);

    const failed = join(tmp, 'failed');
    const r = await exportCli([join(ROOT, 'manifests'), '--out', failed, '--stack-outputs', outputsFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^manifests\/stack\.yaml:\d+:\d+: spec\.volumes\[1\]: host path \/opt\/certitrack\/database\/init is outside the manifests folder/m);
    expect(r.stderr).toMatch(/^manifests\/backup\.yaml:\d+:\d+: spec\.sources\[2\]\.file\.path: host path \/etc\/certitrack\/secrets\.env/m);
    expect(r.stderr).toContain('nothing written');
    await expect(stat(failed)).rejects.toThrow();
  });

  it('an ACME Issuer with external account binding reads the generated Secret under its hashed name', async () => {
    const dir = join(tmp, 'eab');
    await writeManifest(dir, 'cert.yaml', [
      doc('Certificate', 'site', {
        domains: ['site.example.com'],
        issuer: { acme: { directory: 'https://acme.example.com/directory', email: 'ops@example.com', eab: { kid: 'kid-1', hmacKey: { secretRef: 'EAB_HMAC' } }, caFile: './ca.pem' } },
        certFile: './tls/cert.pem',
        keyFile: './tls/key.pem',
      }),
    ]);
    await writeFile(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const r = await exportFolder(dir, { ingressClass: 'alb' });
    if (!r.ok) throw new Error('export failed');
    const out = join(tmp, 'eab-out');
    await writeExport(out, r.export.files, false);
    const rendered = parseRendered(await render(out));
    expect(rendered.flatMap(objectProblems)).toEqual([]);
    const secret = rendered.find((o) => o.kind === 'Secret');
    const issuer = find(rendered, 'Issuer', 'site').spec as { acme: { externalAccountBinding: unknown; caBundle: string; solvers: unknown } };
    expect(issuer.acme.externalAccountBinding).toEqual({ keyID: 'kid-1', keySecretRef: { name: secret?.metadata.name, key: 'EAB_HMAC' } });
    expect(secret?.metadata.name).toMatch(/^certitrack-secrets-[a-z0-9]+$/);
    expect(Buffer.from(issuer.acme.caBundle, 'base64').toString()).toContain('BEGIN CERTIFICATE');
    expect(issuer.acme.solvers).toEqual([{ http01: { ingress: { ingressClassName: 'alb' } } }]);
  });

  it('refuses an output folder inside the manifests folder', async () => {
    const r = await exportCli([join(ROOT, 'examples/local'), '--out', join(ROOT, 'examples/local/k8s')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is inside the manifests folder');
  });
});
