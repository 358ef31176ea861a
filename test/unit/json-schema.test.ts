import { describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parseAllDocuments } from 'yaml';
import { manifestJsonSchema } from '../../src/manifests/json-schema.js';
import { kindNames } from '../../src/manifests/kinds/index.js';
import { ROOT } from '../helpers/cli.js';

describe('the published JSON Schema', () => {
  const schema = manifestJsonSchema();
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validate = ajv.compile(schema);

  it('covers every kind', () => {
    expect((schema.oneOf as { title: string }[]).map((v) => v.title).sort()).toEqual([...kindNames].sort());
  });

  it('accepts every shipped example manifest', async () => {
    for (const folder of ['examples/local', 'manifests']) {
      const dir = join(ROOT, folder);
      const files = (await readdir(dir, { recursive: true }).catch(() => [])).filter((f) => /\.ya?ml$/.test(String(f)));
      for (const f of files) {
        for (const d of parseAllDocuments(await readFile(join(dir, String(f)), 'utf8'))) {
          const value = (Array.isArray(d) ? undefined : d)?.toJS();
          if (!value) continue;
          expect(validate(value), `${folder}/${String(f)}: ${ajv.errorsText(validate.errors)}`).toBe(true);
        }
      }
    }
  });

  it('rejects a typo in a field name, as the agent does', () => {
    expect(validate({ apiVersion: 'certitrack.io/v1', kind: 'Service', metadata: { name: 'a' }, spec: { image: 'x', imagePullPolicy: 'Always' } })).toBe(false);
  });

  it('is committed up to date in schema/manifests.schema.json', async () => {
    const committed = JSON.parse(await readFile(join(ROOT, 'schema', 'manifests.schema.json'), 'utf8')) as unknown;
    expect(committed).toEqual(schema);
  });
});
