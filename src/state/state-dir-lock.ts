import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ignoreMissing } from '../util/ignore-missing.js';
import { isRunning, processStart } from './process-identity.js';

/** Who holds a state dir: enough to find the process and tell it from a later one with the same PID. */
export interface LockHolder {
  pid: number;
  /** The holder's command line, as `ps` would show it. */
  command: string;
  startedAt: string;
  host: string;
  /** The process's start time in clock ticks since boot (/proc/PID/stat), so a reused PID is not taken for the holder. */
  processStart?: string;
}

export class StateDirLockedError extends Error {
  override readonly name = 'StateDirLockedError';
  constructor(
    readonly lockFile: string,
    readonly holder: LockHolder,
  ) {
    super(
      `${lockFile} is held by PID ${holder.pid} (${holder.command}), running since ${holder.startedAt}` +
        `${holder.host === hostname() ? '' : ` on ${holder.host}`}: another agent or apply is acting on this state dir; stop it first, or use another --state-dir`,
    );
  }
}

export const LOCK_FILE = 'agent.lock';

/**
 * One process at a time acts on a state dir (`run` and `apply`; `plan` and `validate` only read).
 * The lock file is made complete under a temporary name and link(2)ed into place, which fails if
 * the name exists: never two holders, and never a half-written lock for another process to read.
 * A lock whose process is gone (crash, SIGKILL) is taken over; the caller is told whose it was.
 */
export class StateDirLock {
  private released = false;
  private readonly releaseOnExit = (): void => this.releaseSync();

  private constructor(
    readonly file: string,
    private readonly content: string,
    /** The dead holder whose lock was taken over, if any. */
    readonly tookOverFrom: LockHolder | undefined,
  ) {
    // A crash that still runs exit handlers (an uncaught error, process.exit) leaves no stale lock.
    process.once('exit', this.releaseOnExit);
  }

  static async acquire(stateDir: string, command = process.argv.join(' ')): Promise<StateDirLock> {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const file = join(stateDir, LOCK_FILE);
    const me: LockHolder = { pid: process.pid, command, startedAt: new Date().toISOString(), host: hostname(), processStart: processStart(process.pid) };
    const content = JSON.stringify(me) + '\n';
    let tookOverFrom: LockHolder | undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      if (await createExclusive(file, content)) return new StateDirLock(file, content, tookOverFrom);
      const text = await readFile(file, 'utf8').catch(ignoreMissing);
      if (text === undefined) continue; // released meanwhile
      const holder = parseHolder(text);
      if (holder && isRunning(holder)) throw new StateDirLockedError(file, holder);
      if (await removeIfUnchanged(file, text)) tookOverFrom = holder ?? { pid: 0, command: 'unreadable lock file', startedAt: '?', host: '?' };
    }
    throw new Error(`cannot take ${file}: it keeps changing hands`);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    process.removeListener('exit', this.releaseOnExit);
    // Only our own lock: after a takeover by mistake it would be someone else's.
    if ((await readFile(this.file, 'utf8').catch(ignoreMissing)) === this.content) await unlink(this.file).catch(ignoreMissing);
  }

  private releaseSync(): void {
    if (this.released) return;
    this.released = true;
    try {
      if (readFileSync(this.file, 'utf8') === this.content) unlinkSync(this.file);
    } catch {
      // Exiting anyway; a lock left behind names a dead PID and is taken over.
    }
  }
}

async function createExclusive(file: string, content: string): Promise<boolean> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, content, { mode: 0o600 });
  try {
    await link(temp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(temp).catch(ignoreMissing);
  }
}

/**
 * Removes the stale lock only if it is still the one judged stale: it is moved aside first, and
 * put back if another process had meanwhile replaced it with a live one.
 */
async function removeIfUnchanged(file: string, stale: string): Promise<boolean> {
  const aside = `${file}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  const moved = await readFile(aside, 'utf8');
  if (moved !== stale) await link(aside, file).catch(() => undefined);
  await unlink(aside);
  return moved === stale;
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockHolder>;
    if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0) return undefined;
    return { pid: v.pid, command: String(v.command ?? '?'), startedAt: String(v.startedAt ?? '?'), host: String(v.host ?? '?'), processStart: v.processStart };
  } catch {
    return undefined;
  }
}

