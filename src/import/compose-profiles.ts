import { isObj, scalar, type Json } from './compose-context.js';

export interface ProfileSelection {
  /** Original names of the services to import, in file order. */
  active: string[];
  /** Services left out, with their profiles. */
  skipped: Map<string, string[]>;
  /** Profiles asked for that no service has (a typo, most likely). */
  unknown: string[];
}

/**
 * As `docker compose up` picks services: one without `profiles` always runs; one with profiles
 * only when one of them is selected (`--profile NAME`, or `*` for all).
 */
export function selectByProfile(services: Record<string, Json>, selected: readonly string[]): ProfileSelection {
  const out: ProfileSelection = { active: [], skipped: new Map(), unknown: [] };
  const seen = new Set<string>();
  for (const [name, raw] of Object.entries(services)) {
    const profiles = isObj(raw) && Array.isArray(raw.profiles) ? raw.profiles.map(scalar).filter((p): p is string => p !== undefined) : [];
    for (const p of profiles) seen.add(p);
    if (profiles.length === 0 || selected.includes('*') || profiles.some((p) => selected.includes(p))) out.active.push(name);
    else out.skipped.set(name, profiles);
  }
  out.unknown = selected.filter((p) => p !== '*' && !seen.has(p));
  return out;
}
