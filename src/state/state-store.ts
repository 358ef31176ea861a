import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';

type Sections = Record<string, Record<string, unknown>>;

/**
 * What the agent must remember across restarts (applied revision, restart backoff, schedule and
 * certificate bookkeeping, resource status), in one JSON file written atomically. Writes are
 * coalesced: `set` marks the store dirty and a flush follows shortly; `flush` forces it.
 * A SIGKILL loses at most the last few hundred milliseconds, which the reconcilers rebuild from the
 * live system anyway (level-triggered).
 */
export class StateStore {
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly sections: Sections,
    /** Key for HMACs of secret values, so spec hashes on labels reveal nothing about secrets. */
    readonly hashKey: Buffer,
    private readonly flushDelayMs: number,
  ) {}

  static async open(dir: string, opts: { flushDelayMs?: number } = {}): Promise<StateStore> {
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
    const keyFile = join(dir, 'hash.key');
    let hashKey: Buffer;
    try {
      hashKey = await readFile(keyFile);
    } catch {
      hashKey = randomBytes(32);
      await writeFileAtomic(keyFile, hashKey, 0o600);
    }
    return new StateStore(dir, sections, hashKey, opts.flushDelayMs ?? 200);
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
      void this.flush().catch(() => undefined);
    }, this.flushDelayMs);
  }

  /** Writes pending changes now; serialised so two writes never race on the temp file. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      await writeFileAtomic(join(this.dir, 'state.json'), JSON.stringify(this.sections, null, 1), 0o600);
    });
    return this.writing;
  }
}
