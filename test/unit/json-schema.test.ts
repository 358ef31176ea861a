import { describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { parseAllDocuments } from 'yaml';
import { MANIFEST_SCHEMA_ID, manifestJsonSchema } from '../../src/manifests/json-schema.js';
import { BYTE_SIZE_PATTERN, parseByteSize } from '../../src/manifests/kinds/common.js';
import { kindNames } from '../../src/manifests/kinds/index.js';
import { DURATION_PATTERN, parseDuration } from '../../src/util/duration.js';
import { ROOT } from '../helpers/cli.js';

// ajv-formats is CommonJS: under ESM the default import is its module.exports, the plugin is `.default`.
const addFormats = ajvFormats.default;

interface Branch {
  if: { properties: { kind: { const: string } } };
  then: { title: string; properties: { spec: Record<string, unknown> } };
}

/** ajv in strict mode, with every warning it would print kept instead. */
function strictAjv(): { ajv: Ajv2020; warnings: string[] } {
  const warnings: string[] = [];
  const keep = (...args: unknown[]): void => void warnings.push(args.map(String).join(' '));
  const ajv = new Ajv2020({ strict: true, allErrors: true, logger: { log: keep, warn: keep, error: keep } });
  addFormats(ajv);
  return { ajv, warnings };
}

const service = (spec: Record<string, unknown>): Record<string, unknown> => ({
  apiVersion: 'certitrack.io/v1',
  kind: 'Service',
  metadata: { name: 'a' },
  spec: { image: 'x', ...spec },
});

describe('the published JSON Schema', () => {
  const schema = manifestJsonSchema();
  const { ajv, warnings } = strictAjv();
  const validate = ajv.compile(schema);

  it('loads in strict ajv without a warning (standard keywords and formats only)', () => {
    expect(warnings).toEqual([]);
    expect(JSON.stringify(schema)).not.toContain('starts_with');
  });

  it('has a stable $id', () => {
    expect(schema.$id).toBe(MANIFEST_SCHEMA_ID);
    expect(MANIFEST_SCHEMA_ID).toMatch(/^https:\/\/certitrack\.io\/schemas\/manifests-v1\.json$/);
  });

  it('dispatches on kind: one branch per kind', () => {
    const branches = schema.allOf as Branch[];
    expect(branches.map((b) => b.if.properties.kind.const)).toEqual(kindNames);
    expect(branches.map((b) => b.then.title)).toEqual(kindNames);
    expect((schema.properties as { kind: { enum: string[] } }).kind.enum).toEqual(kindNames);
  });

  it('describes every field of every kind', () => {
    const undescribed: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}[${i}]`));
      if (node === null || typeof node !== 'object') return;
      const props = (node as { properties?: Record<string, { description?: unknown }> }).properties;
      if (props && !path.endsWith('.if')) {
        for (const [name, prop] of Object.entries(props)) if (typeof prop.description !== 'string') undescribed.push(`${path}.${name}`);
      }
      for (const [k, v] of Object.entries(node)) walk(v, `${path}.${k}`);
    };
    walk(schema, '');
    expect(undescribed).toEqual([]);
  });

  it('accepts every shipped example manifest', async () => {
    let documents = 0;
    for (const folder of ['examples/local', 'manifests']) {
      const dir = join(ROOT, folder);
      const files = (await readdir(dir, { recursive: true })).filter((f) => /\.ya?ml$/.test(f));
      for (const f of files) {
        for (const d of parseAllDocuments(await readFile(join(dir, f), 'utf8'))) {
          const value = (Array.isArray(d) ? undefined : d)?.toJS() as unknown;
          if (!value) continue;
          documents++;
          expect(validate(value), `${folder}/${f}: ${ajv.errorsText(validate.errors)}`).toBe(true);
        }
      }
    }
    expect(documents).toBeGreaterThan(10);
  });

  it('rejects a typo in a field name with exactly one error, as the agent does', () => {
    expect(validate(service({ imagePullPolicy: 'Always' }))).toBe(false);
    // ajv adds one 'must match "then" schema' beside it, naming the kind's branch: not a second problem.
    const [problem, ...others] = (validate.errors ?? []).filter((e) => e.keyword !== 'if');
    expect(others).toEqual([]);
    expect(problem).toMatchObject({ instancePath: '/spec', keyword: 'additionalProperties', params: { additionalProperty: 'imagePullPolicy' } });
    expect(validate.errors?.filter((e) => e.keyword === 'if').map((e) => e.schemaPath)).toEqual(['#/allOf/0/if']);
  });

  it('rejects an unknown kind with one error naming the kinds', () => {
    expect(validate({ ...service({}), kind: 'Servce' })).toBe(false);
    expect(validate.errors).toEqual([expect.objectContaining({ instancePath: '/kind', keyword: 'enum' })]);
  });

  it('checks durations and sizes by pattern', () => {
    expect(validate(service({ stopGracePeriod: '1m30s', resources: { memory: '512Mi' } }))).toBe(true);
    expect(validate(service({ stopGracePeriod: 'ten' }))).toBe(false);
    expect(validate(service({ resources: { memory: 'lots' } }))).toBe(false);
    // A ${cfn:Output} reference is resolved before the agent validates, so it passes here.
    expect(validate(service({ stopGracePeriod: '${cfn:Grace}' }))).toBe(true);
  });

  it('is committed up to date in schema/manifests.schema.json', async () => {
    const committed = JSON.parse(await readFile(join(ROOT, 'schema', 'manifests.schema.json'), 'utf8')) as unknown;
    expect(committed).toEqual(schema);
  });
});

describe('the duration and size patterns', () => {
  const samples = [
    '', ' ', 'ten', '10', '0', '10s', '1m30s', '1.5h', '500ms', '7d', '1ms5', '5m s', 's', '.5s', '1..5s', '1.s', '1h1h', '10S', '2w',
    '512Mi', '512mi', '1Gi', '1GiB', '1gb', '256m', '1 kb', ' 2G ', '1.5k', 'k', '1Ki', '1KIB', '1kib', '1Mb', '1t', '1 k b', '-1k', '1e3',
  ];

  it('accept exactly what the agent parses', () => {
    for (const s of samples) {
      expect(DURATION_PATTERN.test(s), `duration ${JSON.stringify(s)}`).toBe(parseDuration(s) !== undefined);
      expect(BYTE_SIZE_PATTERN.test(s), `size ${JSON.stringify(s)}`).toBe(parseByteSize(s) !== undefined);
    }
  });
});
