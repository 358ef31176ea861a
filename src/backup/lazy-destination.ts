import type { Readable } from 'node:stream';
import type { BackupDestination, PutOptions, StoredObject } from './destination.js';

/**
 * A destination built on first use. The S3 one needs the AWS SDK (~80 ms and ~20 MB to load), and
 * the destination factory runs for every Backup's status line, so `plan`, `status` and an agent
 * whose backups go to a local folder would otherwise all pay for it.
 */
export class LazyDestination implements BackupDestination {
  private inner: Promise<BackupDestination> | undefined;

  constructor(
    readonly description: string,
    private readonly open: () => Promise<BackupDestination>,
  ) {}

  private real(): Promise<BackupDestination> {
    // A failed load is not kept: the next call tries again.
    this.inner ??= this.open().catch((err: unknown) => {
      this.inner = undefined;
      throw err;
    });
    return this.inner;
  }

  async put(key: string, body: Readable, opts?: PutOptions): Promise<{ bytes: number }> {
    return (await this.real()).put(key, body, opts);
  }

  async get(key: string): Promise<Readable> {
    return (await this.real()).get(key);
  }

  async list(prefix: string): Promise<StoredObject[]> {
    return (await this.real()).list(prefix);
  }

  async delete(keys: readonly string[]): Promise<void> {
    return (await this.real()).delete(keys);
  }
}
