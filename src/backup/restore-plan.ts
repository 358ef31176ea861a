import { backupIdTime, type BackupManifest, type ManifestObject } from './backup-descriptor.js';
import { futureLimitOf } from './retention.js';
import type { PreparedSource } from './sources.js';

/** A restore that would write something the current spec does not declare, or that cannot be trusted: nothing was touched. */
export class RestoreRefusedError extends Error {
  override readonly name = 'RestoreRefusedError';
}

/** One object to restore and the declared source it goes back into. */
export interface RestoreItem {
  object: ManifestObject;
  source: PreparedSource;
}

/**
 * Where an object goes, from what a manifest records about its source: the fields that decide the
 * target and nothing else (a spec's exclusions or compression level may change between backups).
 */
export function targetKey(info: Record<string, unknown>): string {
  const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v));
  switch (info.type) {
    case 'postgres':
      return info.service !== undefined ? `database ${str(info.database)} (service ${str(info.service)})` : `database ${str(info.database)} (${str(info.host)}:${str(info.port)})`;
    case 'directory':
    case 'file':
      return `${info.type} ${str(info.path)}`;
    case 'volume':
      return `volume ${str(info.name)}`;
    default:
      return `a source of type ${str(info.type)}`;
  }
}

/** Backups dated after now (beyond the clock-skew tolerance) were not made by this clock: restore refuses them. */
export function refuseFutureBackup(id: string, now: Date): void {
  const time = backupIdTime(id);
  if (!time) throw new RestoreRefusedError(`${id} is not a backup id`);
  if (time.getTime() > futureLimitOf(now)) {
    throw new RestoreRefusedError(`backup ${id} is dated ${time.toISOString()}, in the future (now ${now.toISOString()}): refusing it; this host's clock did not make it, or the clock is wrong`);
  }
}

/**
 * Matches a stored manifest against the Backup's current spec: every object must go back into a
 * source the spec declares (by target, not by what the manifest says to write), with a plain file
 * name. Without `only` every declared source must be in the backup too; with it, only the chosen
 * ones (an object name, or a selector such as volume:NAME, postgres:DATABASE, directory:PATH).
 * Throws a RestoreRefusedError naming every difference.
 */
export function planRestore(manifest: BackupManifest, declared: readonly PreparedSource[], only?: readonly string[]): RestoreItem[] {
  const problems: string[] = [];
  const free = [...declared];
  const items: RestoreItem[] = [];
  for (const object of manifest.objects) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(object.name)) {
      problems.push(`object ${JSON.stringify(object.name)} is not a plain file name`);
      continue;
    }
    const key = targetKey(object.source);
    const i = free.findIndex((s) => targetKey(s.info) === key);
    if (i < 0) {
      problems.push(`object ${object.name} would be restored into ${key}, which the Backup spec does not declare`);
      continue;
    }
    items.push({ object, source: free.splice(i, 1)[0] as PreparedSource });
  }
  const chosen = only?.length ? choose(only, items, declared, problems) : undefined;
  const missing = free.filter((s) => !chosen || chosen.has(s));
  for (const s of missing) problems.push(`the spec's source ${s.target} is not in this backup${only?.length ? '' : ' (restore the others with --only)'}`);
  if (problems.length > 0) throw new RestoreRefusedError(`backup ${manifest.id} does not match the Backup spec; nothing was restored: ${problems.join('; ')}`);
  return chosen ? items.filter((it) => chosen.has(it.source)) : items;
}

function choose(only: readonly string[], items: readonly RestoreItem[], declared: readonly PreparedSource[], problems: string[]): Set<PreparedSource> {
  const chosen = new Set<PreparedSource>();
  for (const want of only) {
    const hit = items.find((it) => it.object.name === want)?.source ?? declared.find((s) => s.name === want || s.selectors.includes(want));
    if (hit) chosen.add(hit);
    else problems.push(`--only ${want} names no source of this Backup (${declared.map((s) => s.selectors[0]).join(', ')}, or an object name)`);
  }
  return chosen;
}
