import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted and undefined members dropped, so that key order in a manifest never
 * changes a hash. Defaults are applied by the schema before hashing, so writing a default explicitly
 * does not change it either.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortDeep(value));
}

function sortDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortDeep);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortDeep(v);
    }
    return out;
  }
  return value;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export const specHash = (value: unknown): string => sha256Hex(canonicalJson(value)).slice(0, 16);
