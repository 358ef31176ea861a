import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scrubbedJson } from '../log.js';
import { writeFileAtomic } from './atomic-write.js';

type Sections = Record<string, Record<string, unknown>>;

export interface DurableStateOptions {
  flushDelayMs?: number;
  /** A background flush failed (disk full, read-only file system); the changes stay pending. */
  onFlushError?: (err: Error) => void;
  /**
   * Applied to every string written to state.json, a last line of defence for secrets (what is
   * stored was scrubbed where it was produced). Strings only, so the file stays valid JSON.
   */
  redact?: (text: string) => string;
}

/**
 * The HMAC key behind every spec hash. Only a key that does not exist yet is created: a new key
 * changes every hash and so recreates every container, which an unreadable key file must never cause.
 */
async function openHashKey(file: string): Promise<Buffer> {
  try {
    const key = await readFile(file);
    if (key.length < 32) throw new Error(`${file} is ${key.length} bytes; expected 32. Restore it from a backup, or remove it to start over (every container will be recreated)`);
    return key;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') {
      if (code === undefined) throw err;
      throw new Error(`cannot read the spec-hash key ${file} (${code}); refusing to make a new one, which would recreate every container`, { cause: err });
    }
  }
  const key = randomBytes(32);
  await writeFileAtomic(file, key, 0o600);
  return key;
}

/**
 * One section of a state dir's state.json as it is on disk, for a process that only reads it (the
 * CLI's backup tools beside a running agent): {} when there is no readable file. Never writes.
 */
export function readStateSection<T>(dir: string, section: string): Record<string, T> {
  try {
    const sections = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Sections;
    return (sections[section] ?? {}) as Record<string, T>;
  } catch {
    return {};
  }
}

/**
 * What the agent must remember across restarts (applied revision, restart backoff, schedule and
 * certificate bookkeeping, resource status), in one JSON file written atomically. Writes are
 * coalesced: `set` marks the store dirty and a flush follows shortly; `flush` forces it.
 * A SIGKILL loses at most the last few hundred milliseconds, which the reconcilers rebuild from the
 * live system anyway (level-triggered).
 */
export class DurableState {
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly sections: Sections,
    /** Key for HMACs of secret values, so spec hashes on labels reveal nothing about secrets. */
    readonly hashKey: Buffer,
    private readonly flushDelayMs: number,
    private readonly onFlushError: (err: Error) => void = () => undefined,
    private readonly redact: (text: string) => string = (t) => t,
  ) {}

  static async open(dir: string, opts: DurableStateOptions = {}): Promise<DurableState> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, 'state.json');
    let sections: Sections = {};
    try {
      sections = JSON.parse(await readFile(file, 'utf8')) as Sections;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') {
        // A corrupt state file must not stop the agent: everything in it can be rebuilt by observing.
        await writeFileAtomic(`${file}.corrupt-${Date.now()}`, await readFile(file).catch(() => Buffer.alloc(0)));
      }
    }
    return new DurableState(dir, sections, await openHashKey(join(dir, 'hash.key')), opts.flushDelayMs ?? 200, opts.onFlushError, opts.redact);
  }

  get<T>(section: string, key: string): T | undefined {
    return this.sections[section]?.[key] as T | undefined;
  }

  entries<T>(section: string): [string, T][] {
    return Object.entries(this.sections[section] ?? {}) as [string, T][];
  }

  set(section: string, key: string, value: unknown): void {
    (this.sections[section] ??= {})[key] = value;
    this.markDirty();
  }

  delete(section: string, key: string): void {
    const s = this.sections[section];
    if (s && key in s) {
      delete s[key];
      this.markDirty();
    }
  }

  private markDirty(): void {
    this.dirty = true;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      // A background flush has no caller to throw to: report it, and keep the data dirty for the next try.
      void this.flush().catch((err: unknown) => this.onFlushError(err instanceof Error ? err : new Error(String(err))));
    }, this.flushDelayMs);
  }

  /** Writes pending changes now; serialised so two writes never race on the temp file. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      try {
        await writeFileAtomic(join(this.dir, 'state.json'), scrubbedJson(this.sections, this.redact, 1), 0o600);
      } catch (err) {
        this.dirty = true;
        throw err;
      }
    });
    const done = this.writing;
    // The chain must survive a failed write, or every later flush would fail with it.
    this.writing = done.catch(() => undefined);
    return done;
  }
}
