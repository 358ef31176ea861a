import type { RunRecord } from '../schedule/run-history.js';

/** What is known about the runs of one Backup: ids of runs in progress, and of runs that have ended. */
export interface RunFacts {
  running: ReadonlySet<string>;
  finished: ReadonlySet<string>;
}

/** The job runner's grace for an aborted run to wind down, after its timeout. */
const ABORT_GRACE_MS = 60_000;

/** From a run history and the ids this process is running (a record without an end may be a crashed run: the timeout decides). */
export const runFactsOf = (records: readonly RunRecord[], running: readonly string[] = []): RunFacts => ({
  running: new Set(running),
  finished: new Set(records.filter((r) => r.finishedAt !== undefined).map((r) => r.id)),
});

/**
 * Whether the run that writes an incomplete backup may still be going on. A backup's id is its
 * run's id, so the run history says it when it knows the run; otherwise (another process's run, a
 * history trimmed since) a run can last no longer than the Backup's timeout, after which its
 * runner aborts it.
 */
export function mayStillRun(backup: { id: string; time: Date }, facts: RunFacts, now: Date, timeoutMs: number): boolean {
  if (facts.running.has(backup.id)) return true;
  if (facts.finished.has(backup.id)) return false;
  return now.getTime() - backup.time.getTime() <= timeoutMs + ABORT_GRACE_MS;
}
