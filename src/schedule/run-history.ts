import { randomBytes } from 'node:crypto';
import { type DurableState, readStateSection } from '../state/durable-state.js';

export type RunTrigger = 'schedule' | 'missed' | 'manual';

/** One run of a job, as /status, `certitrack-agent status` and the CLI show it. Times are ISO strings. */
export interface RunRecord {
  id: string;
  /** The resource key, e.g. "Schedule/nightly" or "Backup/db". */
  key: string;
  /** The slot this run was for; absent for manual runs. */
  scheduledFor?: string;
  startedAt: string;
  /** Absent while the run is in progress. */
  finishedAt?: string;
  exitCode?: number;
  succeeded?: boolean;
  /** The last 4 KiB of output; the caller has already scrubbed secrets from it. */
  outputTail: string;
  trigger: RunTrigger;
  details?: Record<string, unknown>;
}

export interface RunOutcome {
  exitCode?: number;
  succeeded: boolean;
  outputTail: string;
  details?: Record<string, unknown>;
}

/** What is stored per key: the newest runs first, plus the last success even once it scrolled out. */
interface StoredRuns {
  runs: RunRecord[];
  lastSuccess?: RunRecord;
}

interface Bookmark {
  at: string;
  scheduleId?: string;
}

const RUNS = 'runs';
const SCHEDULES = 'schedules';
export const OUTPUT_TAIL_BYTES = 4096;
const DEFAULT_LIMIT = 10;

export function lastBytes(text: string, limit = OUTPUT_TAIL_BYTES): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= limit) return text;
  // Cutting inside a multi-byte character leaves a replacement char at the start; acceptable for a tail.
  return buf.subarray(buf.length - limit).toString('utf8');
}

/** The runs of `key` recorded in a state dir, read without opening it (the agent may be running and writing it). */
export function runsInStateDir(dir: string, key: string): RunRecord[] {
  return readStateSection<StoredRuns>(dir, RUNS)[key]?.runs ?? [];
}

/**
 * The history of job runs per resource key (last N, persisted in DurableState section "runs") and the
 * last scheduled time each schedule has handled (section "schedules"). One instance per DurableState,
 * shared by every scheduled kind.
 */
export class RunHistory {
  private readonly limits = new Map<string, number>();

  constructor(
    private readonly state: DurableState,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** How many runs to keep for `key` (the spec's historyLimit); applies from the next write. */
  setLimit(key: string, limit: number): void {
    this.limits.set(key, Math.max(1, Math.floor(limit)));
  }

  /** Records a run as started and returns it; persisted at once so a crash mid-run still shows it. */
  start(key: string, trigger: RunTrigger, scheduledFor?: Date): RunRecord {
    const startedAt = this.now();
    const record: RunRecord = {
      id: `${startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`,
      key,
      ...(scheduledFor ? { scheduledFor: scheduledFor.toISOString() } : {}),
      startedAt: startedAt.toISOString(),
      outputTail: '',
      trigger,
    };
    const stored = this.read(key);
    stored.runs.unshift(record);
    this.write(key, stored);
    return record;
  }

  /** Marks a run finished. Unknown ids (trimmed away meanwhile) are still returned, just not kept. */
  finish(key: string, id: string, result: RunOutcome): RunRecord {
    const stored = this.read(key);
    const existing = stored.runs.find((r) => r.id === id);
    const record: RunRecord = {
      ...(existing ?? { id, key, startedAt: this.now().toISOString(), trigger: 'manual' as const }),
      finishedAt: this.now().toISOString(),
      ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
      succeeded: result.succeeded,
      outputTail: lastBytes(result.outputTail),
      ...(result.details ? { details: result.details } : {}),
    };
    stored.runs = stored.runs.map((r) => (r.id === id ? record : r));
    if (record.succeeded) stored.lastSuccess = record;
    this.write(key, stored);
    return record;
  }

  /** Newest first. */
  list(key: string): RunRecord[] {
    return this.read(key).runs;
  }

  /** The newest run, finished or not. */
  last(key: string): RunRecord | undefined {
    return this.read(key).runs[0];
  }

  lastFinished(key: string): RunRecord | undefined {
    return this.read(key).runs.find((r) => r.finishedAt !== undefined);
  }

  lastSuccess(key: string): RunRecord | undefined {
    return this.read(key).lastSuccess;
  }

  keys(): string[] {
    return this.state.entries<StoredRuns>(RUNS).map(([k]) => k);
  }

  /**
   * Runs that were in progress when the agent stopped can never finish: mark them failed. Call once
   * at start-up, before any job runs.
   */
  recoverInterrupted(): number {
    let n = 0;
    for (const [key, stored] of this.state.entries<StoredRuns>(RUNS)) {
      let changed = false;
      const runs = stored.runs.map((r) => {
        if (r.finishedAt !== undefined) return r;
        changed = true;
        n++;
        return { ...r, finishedAt: this.now().toISOString(), succeeded: false, outputTail: lastBytes(`${r.outputTail}\n[interrupted: the agent stopped during this run]`) };
      });
      if (changed) this.state.set(RUNS, key, { ...stored, runs });
    }
    return n;
  }

  /**
   * The last scheduled time handled for `key`. With `scheduleId` (e.g. "cron|zone"), a bookmark
   * written for a different schedule counts as none, so editing the cron never fires a catch-up run
   * for a slot of the new expression that passed before the edit.
   */
  getLastScheduled(key: string, scheduleId?: string): Date | undefined {
    const raw = this.state.get<string | Bookmark>(SCHEDULES, key);
    if (raw === undefined) return undefined;
    const b: Bookmark = typeof raw === 'string' ? { at: raw } : raw;
    if (scheduleId !== undefined && b.scheduleId !== undefined && b.scheduleId !== scheduleId) return undefined;
    return new Date(b.at);
  }

  setLastScheduled(key: string, at: Date, scheduleId?: string): void {
    this.state.set(SCHEDULES, key, { at: at.toISOString(), ...(scheduleId !== undefined ? { scheduleId } : {}) } satisfies Bookmark);
  }

  /** Every persisted lastScheduled, by resource key. */
  bookmarks(): [string, Date][] {
    return this.state.entries<string | Bookmark>(SCHEDULES).map(([k, v]) => [k, new Date(typeof v === 'string' ? v : v.at)]);
  }

  /** Forgets the bookmark only; the run history of a removed resource is kept for the record. */
  forgetSchedule(key: string): void {
    this.state.delete(SCHEDULES, key);
  }

  private read(key: string): StoredRuns {
    const stored = this.state.get<StoredRuns>(RUNS, key);
    return { runs: [...(stored?.runs ?? [])], ...(stored?.lastSuccess ? { lastSuccess: stored.lastSuccess } : {}) };
  }

  private write(key: string, stored: StoredRuns): void {
    const limit = this.limits.get(key) ?? DEFAULT_LIMIT;
    // Never trim away a run still in progress: its finish must find it.
    const keep = stored.runs.filter((r, i) => i < limit || r.finishedAt === undefined);
    this.state.set(RUNS, key, { ...stored, runs: keep });
  }
}
