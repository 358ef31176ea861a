/**
 * The kinds as the CLI spells them, without loading their schemas (the CLI must start fast);
 * test/unit/cli-output.test.ts checks the list against src/manifests/kinds.
 */
export const KIND_NAMES = ['Service', 'Network', 'Volume', 'Schedule', 'Certificate', 'Backup', 'Alarm'] as const;
export type CliKind = (typeof KIND_NAMES)[number];

/** A kind as typed on the command line, in any case (`schedule`, `SERVICE`), as the agent spells it. */
export function canonicalKind(text: string): CliKind {
  const kind = KIND_NAMES.find((k) => k.toLowerCase() === text.toLowerCase());
  if (!kind) throw new Error(`unknown kind "${text}"; expected one of ${KIND_NAMES.join(', ')} (any case)`);
  return kind;
}

/** `KIND/NAME` (kind in any case) as the agent's key `Kind/name`. */
export function parseKindRef(text: string): { kind: CliKind; name: string } {
  const slash = text.indexOf('/');
  const name = text.slice(slash + 1);
  if (slash <= 0 || name === '' || name.includes('/')) throw new Error(`expected KIND/NAME (e.g. schedule/db-vacuum), got "${text}"`);
  return { kind: canonicalKind(text.slice(0, slash)), name };
}

/** `KIND` or `KIND/NAME` for filters (`status service`, `status service/backend`). */
export function parseKindFilter(text: string): { kind: CliKind; name?: string } {
  return text.includes('/') ? parseKindRef(text) : { kind: canonicalKind(text) };
}
