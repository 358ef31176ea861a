import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../util/hash.js';
import { generatePrivateKey } from './key-pair.js';

/**
 * ACME account keys, one per directory URL, created once in the state directory (mode 0600) and
 * reused for every order after, so the CA sees one account and its rate limits and contact stay put.
 */
export class AcmeAccountKeys {
  private readonly pending = new Map<string, Promise<string>>();

  constructor(private readonly dir: string) {}

  pathFor(directoryUrl: string): string {
    return join(this.dir, `account-${sha256Hex(directoryUrl).slice(0, 16)}.key`);
  }

  keyFor(directoryUrl: string): Promise<string> {
    const path = this.pathFor(directoryUrl);
    let p = this.pending.get(path);
    if (!p) {
      p = this.loadOrCreate(path).finally(() => this.pending.delete(path));
      this.pending.set(path, p);
    }
    return p;
  }

  private async loadOrCreate(path: string): Promise<string> {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ACME account key ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const key = await generatePrivateKey('ecdsa-p256');
    // link() fails if the name exists, so when the CLI and the daemon race, one key wins and both use it.
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(key);
      await fh.chmod(0o600);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, path);
      return key;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFile(path, 'utf8');
      throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }
}
