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
    const spec = z.toJSONSchema(def.spec, { io: 'input', unrepresentable: 'any' });
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
