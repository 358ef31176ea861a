import { z } from 'zod';
import { kinds } from './kinds/index.js';
import { API_VERSION } from './load.js';

/**
 * A JSON Schema (draft 2020-12) of every kind, generated from the same zod schemas the loader uses,
 * so editors (yaml-language-server) check manifests as the agent will. Only the input shape is
 * described; refinements such as "exactly one of" are checked by the agent alone.
 */
export function manifestJsonSchema(): Record<string, unknown> {
  const variants = Object.values(kinds).map((def) => {
    const spec = allowCfnRefs(z.toJSONSchema(def.spec, { io: 'input', unrepresentable: 'any' })) as Record<string, unknown>;
    delete (spec as { $schema?: string }).$schema;
    return {
      title: def.kind,
      description: def.description,
      type: 'object',
      additionalProperties: false,
      required: ['apiVersion', 'kind', 'metadata'],
      properties: {
        apiVersion: { const: API_VERSION },
        kind: { const: def.kind },
        metadata: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$', maxLength: 63 },
            labels: { type: 'object', additionalProperties: { type: 'string' } },
          },
        },
        spec,
      },
    };
  });
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://certitrack.io/schemas/manifests.json',
    title: 'certitrack-agent manifest',
    oneOf: variants,
  };
}

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
    const { description, ...rest } = obj;
    return { ...(description === undefined ? {} : { description }), anyOf: [rest, CFN_REF] };
  }
  return obj;
}
