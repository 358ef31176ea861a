import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serviceSpec } from '../../src/manifests/kinds/service.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { YamlLanguageServer } from '../helpers/yaml-language-server.js';

/**
 * The schema as an editor uses it: `certitrack-agent schema --out` into a manifests repository,
 * a modeline relative to the file (as the README says), and the real YAML language server.
 */
describe('the JSON Schema in the YAML language server', () => {
  const MODELINE = '# yaml-language-server: $schema=./manifests.schema.json';
  let repo: string;
  let server: YamlLanguageServer;
  const uri = (name: string): string => pathToFileURL(join(repo, name)).href;
  /** Zero-based line and character of the first `text` in `doc`. */
  const positionOf = (doc: string, text: string): [number, number] => {
    const lines = doc.split('\n');
    const line = lines.findIndex((l) => l.includes(text));
    return [line, (lines[line] ?? '').indexOf(text)];
  };

  beforeAll(async () => {
    repo = await mkdtemp(join(tmpdir(), 'certitrack-yamlls-'));
    const out = await runCli(['schema', '--out', join(repo, 'manifests.schema.json')]);
    expect(out.code, out.stderr).toBe(0);
    // Shipped manifests are checked through the editor setting instead of a modeline.
    server = await YamlLanguageServer.start(pathToFileURL(repo).href, { [uri('manifests.schema.json')]: 'shipped/**/*.yaml' });
  });

  afterAll(async () => {
    await server?.stop();
    await rm(repo, { recursive: true, force: true });
  });

  const service = (spec: string): string =>
    `${MODELINE}\napiVersion: certitrack.io/v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  image: nginx:1.27\n${spec}`;

  it('reports a typo in a field as exactly one diagnostic, on that field', async () => {
    const doc = service('  restartPolicy: Always\n  restartPolcy: OnFailure\n');
    const diagnostics = await server.open(uri('typo.yaml'), doc);
    expect(diagnostics.map((d) => d.message)).toEqual([expect.stringContaining('restartPolcy')]);
    expect(diagnostics[0]?.range.start.line).toBe(positionOf(doc, 'restartPolcy')[0]);
  });

  it('shows the field description on hover', async () => {
    const doc = service('  restartPolicy: OnFailure\n');
    const name = uri('hover.yaml');
    expect(await server.open(name, doc)).toEqual([]);
    const description = serviceSpec.shape.restartPolicy.description;
    expect(description).toMatch(/OnFailure/);
    expect(await server.hover(name, ...positionOf(doc, 'restartPolicy'))).toContain(description);
  });

  it('checks each document of a file against its own kind: one diagnostic for one mistake', async () => {
    // One folder down, the modeline's path is relative to the file.
    const modeline = MODELINE.replace('./', '../');
    const doc = [
      service('  healthcheck:\n    command: "true"\n    interval: ten\n').replace(MODELINE, modeline),
      `---\n${modeline}\napiVersion: certitrack.io/v1\nkind: Servce\nmetadata:\n  name: api\nspec:\n  image: api\n`,
      `---\n${modeline}\napiVersion: certitrack.io/v1\nkind: Volume\nmetadata:\n  name: data\nspec:\n  size: lots\n`,
    ].join('');
    const diagnostics = await server.open(uri('services/three.yaml'), doc);
    expect(diagnostics.map((d) => d.range.start.line)).toEqual([
      positionOf(doc, 'interval: ten')[0],
      positionOf(doc, 'kind: Servce')[0],
      positionOf(doc, 'size: lots')[0],
    ]);
    expect(diagnostics[1]?.message).toMatch(/Service.*Network.*Alarm/);
  });

  it('accepts every shipped manifest without a diagnostic', async () => {
    // The setting applies there: a mistake under the same glob is found.
    const probe = await server.open(uri('shipped/probe.yaml'), 'apiVersion: certitrack.io/v1\nkind: Network\nmetadata: { name: n }\nspec: { internl: true }\n');
    expect(probe.map((d) => d.message)).toEqual([expect.stringContaining('internl')]);
    const shipped: string[] = [];
    for (const folder of ['examples/local', 'manifests']) {
      const files = await readdir(join(ROOT, folder), { recursive: true });
      shipped.push(...files.filter((f) => /\.ya?ml$/.test(f)).map((f) => join(folder, f)));
    }
    expect(shipped.length).toBeGreaterThan(5);
    const results = await Promise.all(
      shipped.map(async (f) => ({ file: f, diagnostics: await server.open(uri(join('shipped', f)), await readFile(join(ROOT, f), 'utf8')) })),
    );
    expect(results.filter((r) => r.diagnostics.length > 0)).toEqual([]);
  });
});
