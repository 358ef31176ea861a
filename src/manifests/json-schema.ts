import { z } from 'zod';
import { manifestMetadata } from './kinds/common.js';
import { kindNames, kinds } from './kinds/index.js';
import { API_VERSION } from './load.js';

/**
 * The schema's identity, versioned with the manifest format. It is a name, not an address: nothing
 * is served there, and editors are pointed at a copy of the file (`certitrack-agent schema --out`).
 */
export const MANIFEST_SCHEMA_ID = 'https://certitrack.io/schemas/manifests-v1.json';

/**
 * A JSON Schema (draft 2020-12) of every kind, generated from the same zod schemas the loader uses,
 * so editors (yaml-language-server) check manifests as the agent will and show each field's
 * description on hover. Only the input shape is described; refinements such as "exactly one of"
 * are checked by the agent alone.
 *
 * The document is matched to its kind with if/then on `kind` rather than a oneOf of the kinds: a
 * validator then checks a document against its own kind only, so one typo gives one error instead
 * of one per kind that it also fails to be.
 */
export function manifestJsonSchema(): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: MANIFEST_SCHEMA_ID,
    title: 'certitrack-agent manifest',
    description: 'One resource the agent keeps as declared.',
    type: 'object',
    additionalProperties: false,
    required: ['apiVersion', 'kind', 'metadata'],
    properties: {
      apiVersion: { description: `The manifest format: ${API_VERSION}.`, const: API_VERSION },
      kind: { description: 'What the document declares; it decides the fields of spec.', enum: kindNames },
      metadata: editorSchema(manifestMetadata),
      spec: { description: 'What the resource should be; the fields depend on kind.', type: 'object' },
    },
    allOf: Object.values(kinds).map((def) => ({
      if: { properties: { kind: { const: def.kind } }, required: ['kind'] },
      then: { title: def.kind, properties: { spec: { description: def.description, ...editorSchema(def.spec) } } },
    })),
  };
}

/** A zod schema as editors should see it: the input side, standard keywords only. */
function editorSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _draft, ...json } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  return allowCfnRefs(standardFormatsOnly(json)) as Record<string, unknown>;
}

/**
 * The formats JSON Schema 2020-12 defines. zod adds its own (`starts_with` beside the pattern that
 * already says it), which validators warn about and ignore: only these are kept.
 */
const STANDARD_FORMATS = new Set([
  'date-time', 'date', 'time', 'duration', 'email', 'idn-email', 'hostname', 'idn-hostname', 'ipv4', 'ipv6',
  'uri', 'uri-reference', 'iri', 'iri-reference', 'uuid', 'uri-template', 'json-pointer', 'relative-json-pointer', 'regex',
]);

function standardFormatsOnly(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(standardFormatsOnly);
  if (node === null || typeof node !== 'object') return node;
  const entries = Object.entries(node).filter(([k, v]) => k !== 'format' || (typeof v === 'string' && STANDARD_FORMATS.has(v)));
  return Object.fromEntries(entries.map(([k, v]) => [k, standardFormatsOnly(v)]));
}

const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples']);
const CFN_REF = { type: 'string', pattern: '\\$\\{cfn:[A-Za-z0-9]+\\}' };

/**
 * `${cfn:Output}` references are resolved by the agent before validation, so a patterned string
 * field (a bucket name, an ARN) must also accept a reference as written in the file.
 */
function allowCfnRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(allowCfnRefs);
  if (node === null || typeof node !== 'object') return node;
  const obj = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, allowCfnRefs(v)]));
  if (obj.type === 'string' && (typeof obj.pattern === 'string' || typeof obj.format === 'string')) {
    // What an editor shows (hover, completion) stays on the field, outside the alternatives.
    const annotations = Object.fromEntries(Object.entries(obj).filter(([k]) => ANNOTATIONS.has(k)));
    const rest = Object.fromEntries(Object.entries(obj).filter(([k]) => !ANNOTATIONS.has(k)));
    return { ...annotations, anyOf: [rest, CFN_REF] };
  }
  return obj;
}
