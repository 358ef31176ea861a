import { listBackups } from './catalog.js';
import type { BackupDestination } from './destination.js';
import { backupDir, MANIFEST_NAME } from './backup-descriptor.js';
import { applyRetention, type RetentionPolicy, type RetentionResult } from './retention.js';
import { mayStillRun, type RunFacts } from './run-state.js';

export interface PruneOutcome {
  decision: RetentionResult;
  /** Backup ids whose objects were deleted (removed by policy, or incomplete from a run that has ended). */
  deleted: string[];
}

/**
 * Applies the retention policy to one Backup's own prefix. Runs only after a successful backup,
 * whose id must appear complete in the listing: if it does not, the listing is not trusted (it looks
 * partial) and nothing is deleted. A failed listing throws before anything is deleted. Each doomed
 * backup loses its manifest first, so a crash halfway leaves an incomplete backup (cleaned up a day
 * later), never a complete-looking one with objects missing. Incomplete backups are deleted once
 * their run has ended (run-state.ts): a failed run that could not clean up after itself is cleaned
 * up by the next successful one.
 */
export async function pruneBackups(
  dest: BackupDestination,
  opts: { prefix: string; name: string; policy: RetentionPolicy; timeZone: string; now: Date; justCompleted: string; runs: RunFacts; timeoutMs: number },
): Promise<PruneOutcome> {
  const entries = await listBackups(dest, opts.prefix, opts.name);
  const fresh = entries.find((e) => e.id === opts.justCompleted);
  if (!fresh?.complete) {
    throw new Error(`the listing does not show backup ${opts.justCompleted} as complete; it looks partial, so nothing was deleted`);
  }
  const decision = applyRetention(entries, opts.policy, { timeZone: opts.timeZone, now: opts.now, mayBeRunning: (c) => mayStillRun(c, opts.runs, opts.now, opts.timeoutMs) });
  const doomed = new Set([...decision.remove, ...decision.cleanup].map((d) => d.id));
  doomed.delete(opts.justCompleted);
  const deleted: string[] = [];
  for (const e of entries) {
    if (!doomed.has(e.id)) continue;
    const dir = backupDir(opts.prefix, opts.name, e.id);
    const keys = e.objects.map((o) => o.key);
    // Belt and braces: listBackups only returns keys under the backup's folder; never delete anything else.
    if (keys.some((k) => !k.startsWith(dir))) throw new Error(`refusing to delete ${e.id}: a key lies outside ${dir}`);
    const manifest = keys.filter((k) => k === `${dir}${MANIFEST_NAME}`);
    await dest.delete(manifest);
    await dest.delete(keys.filter((k) => k !== `${dir}${MANIFEST_NAME}`));
    deleted.push(e.id);
  }
  return { decision, deleted };
}
