import { describe, expect, it } from 'vitest';
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { formatManifestError } from '../../src/manifests/source.js';
import { tempDir } from '../helpers/docker.js';
import { doc, toYaml, writeManifest } from '../helpers/manifests.js';

const secrets = new StaticSecrets({ DB_PASSWORD: 'not-shown-anywhere' });

async function load(files: Record<string, string>) {
  const dir = await tempDir('load');
  for (const [name, text] of Object.entries(files)) await writeManifest(dir, name, text);
  const r = await loadManifests(dir, { secrets, displayBase: dir });
  return { dir, r, errors: r.ok ? [] : r.errors.map(formatManifestError) };
}

const svc = (name: string, spec: Record<string, unknown>) => toYaml([doc('Service', name, { image: 'x:1', ...spec })]);

describe('loading manifests', () => {
  it('accepts the issue example and applies defaults', async () => {
    const { r } = await load({
      'backend.yaml': `apiVersion: certitrack.io/v1
kind: Service
metadata:
  name: backend
spec:
  image: certitrack-backend:latest
  env:
    GIN_MODE: release
    DB_PASSWORD: { secretRef: DB_PASSWORD }
  ports: ["127.0.0.1:8080:8080"]
  networks: [certitrack-network]
  dependsOn:
    - { service: postgres, condition: healthy }
  healthcheck:
    http: { port: 8080, path: /api/v1/health }
    interval: 10s
    retries: 3
---
apiVersion: certitrack.io/v1
kind: Service
metadata: { name: postgres }
spec:
  image: postgres:15
  healthcheck: { command: [pg_isready] }
---
apiVersion: certitrack.io/v1
kind: Network
metadata: { name: certitrack-network }
`,
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const backend = r.state.get('Service', 'backend')!;
    expect(backend.spec.restartPolicy).toBe('Always');
    expect(backend.spec.pullPolicy).toBe('IfNotPresent');
    expect(backend.spec.ports[0]).toEqual({ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 8080, protocol: 'tcp' });
    expect(backend.spec.healthcheck?.interval).toBe(10_000);
    expect(backend.spec.dependsOn).toEqual([{ service: 'postgres', condition: 'healthy' }]);
    // The secret stays a reference in the desired state.
    expect(JSON.stringify(r.state.all().map((x) => x.spec))).not.toContain('not-shown-anywhere');
  });

  it('names file, line, column and field for schema errors', async () => {
    const { errors } = await load({
      'bad.yaml': `apiVersion: certitrack.io/v1
kind: Service
metadata:
  name: backend
spec:
  image: x
  ports:
    - "8080"
  restartPolicy: Sometimes
  imagePullPolicy: Always
`,
    });
    expect(errors).toEqual([
      'bad.yaml:8:7: spec.ports[0]: expected HOST:CONTAINER or IP:HOST:CONTAINER, optionally /tcp or /udp',
      expect.stringMatching(/^bad\.yaml:9:18: spec\.restartPolicy: /),
      'bad.yaml:10:3: spec.imagePullPolicy: unknown field "imagePullPolicy"',
    ]);
  });

  it('reports YAML syntax errors, unknown kinds, bad names and versions', async () => {
    const { errors } = await load({
      'a.yaml': 'apiVersion: certitrack.io/v1\nkind: Service\nmetadata: { name: x\n',
      'b.yaml': 'apiVersion: certitrack.io/v2\nkind: Deployment\nmetadata:\n  name: Bad_Name\n',
    });
    expect(errors.some((e) => /^a\.yaml:\d+:\d+: YAML syntax error/.test(e))).toBe(true);
    expect(errors).toContain('b.yaml:1:13: apiVersion: expected apiVersion certitrack.io/v1');
    expect(errors.some((e) => e.startsWith('b.yaml:2:7: kind: expected one of Service'))).toBe(true);
    expect(errors.some((e) => e.startsWith('b.yaml:4:9: metadata.name:'))).toBe(true);
  });

  it('runs cross-document checks: duplicates, references, cycles, port clashes, secrets', async () => {
    const { errors } = await load({
      'a.yaml': svc('a', { dependsOn: ['b'], ports: ['80:80'], networks: ['nope'], volumes: ['data:/data'] }),
      'b.yaml': svc('b', { dependsOn: ['c'], ports: ['127.0.0.1:80:8080'] }),
      'c.yaml': svc('c', { dependsOn: ['a', 'ghost'], env: { X: { secretRef: 'MISSING' } } }),
      'd.yaml': svc('a', {}),
      'e.yaml': svc('e', { dependsOn: [{ service: 'a', condition: 'healthy' }] }),
    });
    const text = errors.join('\n');
    expect(text).toMatch(/d\.yaml:4:9: metadata\.name: duplicate Service "a" \(first declared at a\.yaml:4\)/);
    expect(text).toMatch(/a\.yaml:\d+:\d+: spec\.networks\[0\]: network "nope" is not declared/);
    expect(text).toMatch(/a\.yaml:\d+:\d+: spec\.volumes\[0\]: volume "data" is not declared/);
    expect(text).toMatch(/a\.yaml:\d+:\d+: spec\.dependsOn: dependency cycle: a -> b -> c -> a/);
    expect(text).toMatch(/b\.yaml:\d+:\d+: spec\.ports\[0\]: host port 80\/tcp is already published by service "a"/);
    expect(text).toMatch(/c\.yaml:\d+:\d+: spec\.dependsOn\[1\]: service "ghost" is not declared/);
    expect(text).toMatch(/c\.yaml:\d+:\d+: spec\.env\.X: secret MISSING is not defined/);
    expect(text).toMatch(/e\.yaml:\d+:\d+: spec\.dependsOn\[0\]: condition healthy needs a healthcheck on service "a"/);
  });

  it('says a present field of the wrong type has the wrong type, and a missing one is missing', async () => {
    const { errors } = await load({ 'a.yaml': svc('a', { image: 42 }), 'b.yaml': toYaml([doc('Service', 'b', { pullPolicy: 'Never' })]) });
    expect(errors).toContainEqual(expect.stringMatching(/^a\.yaml:\d+:\d+: spec\.image: expected string, got number 42$/));
    expect(errors).toContainEqual(expect.stringMatching(/^b\.yaml:\d+:\d+: spec\.image: required field missing \(expected string\)$/));
  });

  it('keeps relative paths inside the manifests folder and requires them to exist', async () => {
    const { errors } = await load({
      'sub/a.yaml': svc('a', { volumes: ['../../../etc:/host-etc:ro', '../data:/data', './missing:/m', '/var/lib/anything:/abs'] }),
      'data/keep.txt': 'x',
    });
    expect(errors).toEqual([
      expect.stringMatching(/^sub\/a\.yaml:\d+:\d+: spec\.volumes\[0\]: bind mount source \.\.\/\.\.\/\.\.\/etc resolves to .*, outside the manifests folder; write host paths as absolute paths$/),
      expect.stringMatching(/^sub\/a\.yaml:\d+:\d+: spec\.volumes\[2\]: bind mount source .*sub\/missing does not exist$/),
    ]);
  });

  it('defuses alias bombs, refuses binary and oversized files', async () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 10; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    const dir = await tempDir('junk');
    await writeFile(join(dir, 'bomb.yaml'), bomb.join('\n') + '\n');
    await writeFile(join(dir, 'junk.yaml'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3]));
    await writeFile(join(dir, 'huge.yaml'), '#'.repeat(2 * 1024 * 1024));
    const r = await loadManifests(dir, { secrets, displayBase: dir });
    expect(r.ok).toBe(false);
    const text = r.ok ? '' : r.errors.map(formatManifestError).join('\n');
    expect(text).toMatch(/bomb\.yaml:1:1: YAML error: .*alias/i);
    expect(text).toMatch(/junk\.yaml:1:1: file is binary/);
    expect(text).toMatch(/huge\.yaml:1:1: file is over the limit: manifests are limited to 1048576 bytes/);
  });

  it('gives the same revision whatever the key order or explicit defaults', async () => {
    const a = await load({ 's.yaml': svc('s', { env: { A: '1', B: '2' } }) });
    const b = await load({ 's.yaml': 'kind: Service\napiVersion: certitrack.io/v1\nmetadata: {name: s}\nspec:\n  restartPolicy: Always\n  env: {B: "2", A: "1"}\n  image: "x:1"\n  pullPolicy: IfNotPresent\n' });
    const c = await load({ 's.yaml': svc('s', { env: { A: '1', B: '3' } }) });
    expect(a.r.ok && b.r.ok && c.r.ok).toBe(true);
    if (!a.r.ok || !b.r.ok || !c.r.ok) return;
    expect(a.r.state.revision).toBe(b.r.state.revision);
    expect(a.r.state.revision).not.toBe(c.r.state.revision);
  });

  it('fails the load, without throwing, when a listed file vanishes before it is read', async () => {
    const dir = await tempDir('vanish');
    await writeManifest(dir, 'ok.yaml', svc('ok', {}));
    // A dangling link is listed like a file and then cannot be read: the same as a file removed mid-load.
    await symlink(join(dir, 'gone.yaml.target'), join(dir, 'gone.yaml'));
    const r = await loadManifests(dir, { secrets, displayBase: dir });
    expect(r.ok ? [] : r.errors.map(formatManifestError)).toEqual(['gone.yaml:1:1: file disappeared while the folder was being read']);
  });

  it('treats a missing folder as an error and ignores hidden files', async () => {
    const missing = await loadManifests('/nonexistent/certitrack', { secrets });
    expect(missing.ok).toBe(false);
    const { r } = await load({ '.swp.yaml': 'garbage: [', 'ok.yaml': svc('ok', {}) });
    expect(r.ok).toBe(true);
  });
});
