const VALID = /^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$/;
const MAX = 63;

/**
 * Compose names (any case, dots, long) mapped to manifest names (the resourceName rule: lower-case
 * letters, digits, "-" and "_", alphanumeric at both ends, at most 63 characters). The mapping is
 * stable and collision-free within one kind, so references translate the same way everywhere.
 */
export class ResourceNames {
  private readonly byOriginal = new Map<string, string>();
  private readonly taken = new Set<string>();

  constructor(private readonly onRenamed: (original: string, name: string) => void) {}

  get(original: string): string {
    const known = this.byOriginal.get(original);
    if (known !== undefined) return known;
    const base = sanitizeName(original);
    let name = base;
    for (let n = 2; this.taken.has(name); n++) name = `${base.slice(0, MAX - String(n).length - 1)}-${n}`;
    this.byOriginal.set(original, name);
    this.taken.add(name);
    if (name !== original) this.onRenamed(original, name);
    return name;
  }

  has(original: string): boolean {
    return this.byOriginal.has(original);
  }
}

export function sanitizeName(original: string): string {
  if (VALID.test(original) && original.length <= MAX) return original;
  const cleaned = original
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .slice(0, MAX)
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return cleaned === '' ? 'unnamed' : cleaned;
}
