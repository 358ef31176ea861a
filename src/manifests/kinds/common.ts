import { z } from 'zod';
import { DURATION_PATTERN, parseDuration } from '../../util/duration.js';

/** DNS-1123 label, as Kubernetes names: usable as a container, network and DNS name. */
export const resourceName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$/, 'expected lower-case letters, digits, "-" or "_", starting and ending with a letter or digit')
  .max(63);

/** "10s", "1m30s", "500ms", "2h", "7d"; parsed to milliseconds. */
export const duration = z
  .string()
  .regex(DURATION_PATTERN, 'expected a duration such as 500ms, 10s, 1m30s, 2h or 7d')
  .meta({ examples: ['500ms', '10s', '1m30s', '2h', '7d'] })
  .transform((s) => parseDuration(s) as number);

// As Docker and Compose read memory sizes: every unit is binary, so "512m" is 512 MiB.
const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3,
  ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3,
};

/** Exactly the texts parseByteSize accepts (the units above, any case), for JSON Schema. */
export const BYTE_SIZE_PATTERN = /^\s*\d+(?:\.\d+)?\s*(?:[bB]|[kKmMgG][iI]?[bB]?)?\s*$/;

export function parseByteSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}

/** "512Mi", "1G", "256m" (Compose style) or a plain number of bytes. */
export const byteSize = z
  .union([
    z.number().int().positive(),
    z
      .string()
      .regex(BYTE_SIZE_PATTERN, 'expected a size such as 512Mi, 1Gi, 256m or a number of bytes')
      .meta({ examples: ['512Mi', '1Gi', '256m'] }),
  ])
  .transform((v) => (typeof v === 'number' ? v : (parseByteSize(v) as number)));

export const stringMap = z.record(z.string(), z.string());

/**
 * A value that may be a secret: a literal, `{ secretRef: NAME }` (from the secrets env file or the
 * agent's environment) or `{ file: PATH }` (the file's content, trailing newline trimmed).
 * Secrets stay references in the desired state; they are resolved only when applied.
 */
export const secretRef = z.strictObject({
  secretRef: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
    .describe('A key of the secrets file (--secrets-file), or an environment variable of the agent allowed with --secret-env.'),
});
export const fileRef = z.strictObject({
  file: z.string().min(1).describe("A file whose content is the value (trailing newline trimmed): inside the manifests folder or a root the host policy allows."),
});
export const valueOrSecret = z.union([
  z.string(),
  z.number().transform(String),
  z.boolean().transform(String),
  secretRef,
  fileRef,
]);
export type ValueOrSecret = z.output<typeof valueOrSecret>;

/** Every document's metadata: what names the resource. */
export const manifestMetadata = z
  .strictObject({
    name: resourceName.describe('The name, unique per kind: lower-case letters, digits, "-" and "_", at most 63. Docker objects are named <instance>-<name>.'),
    labels: stringMap.default({}).describe('Free-form labels; `export kubernetes` copies them to the objects it writes.'),
  })
  .describe('What names the resource.');
