import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { removeDir, tempDir } from './docker.js';

const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

/** A bare "origin" repository and a clone that commits and pushes to it, as an operator would. */
export class ManifestsRemote {
  private constructor(
    /** The URL the agent fetches from. */
    readonly bare: string,
    readonly work: string,
  ) {}

  static async create(): Promise<ManifestsRemote> {
    const remote = new ManifestsRemote(await tempDir('bare'), await tempDir('work'));
    git(remote.bare, 'init', '-q', '--bare', '-b', 'main');
    git(remote.work, 'init', '-q', '-b', 'main');
    git(remote.work, 'config', 'user.email', 'ops@example.com');
    git(remote.work, 'config', 'user.name', 'ops');
    git(remote.work, 'remote', 'add', 'origin', remote.bare);
    return remote;
  }

  /** Writes the files (null deletes one), commits everything and pushes; returns the commit id. */
  async commit(message: string, files: Record<string, string | null>): Promise<string> {
    for (const [name, text] of Object.entries(files)) {
      const path = join(this.work, name);
      if (text === null) await rm(path, { force: true });
      else {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, text);
      }
    }
    git(this.work, 'add', '-A');
    git(this.work, 'commit', '-q', '-m', message);
    git(this.work, 'push', '-q', 'origin', 'main');
    return git(this.work, 'rev-parse', 'HEAD');
  }

  async remove(): Promise<void> {
    await Promise.all([removeDir(this.bare), removeDir(this.work)]);
  }
}
