import { randomBytes } from 'node:crypto';
import { readlink, rename, rm, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Points `link` at `target` in one step: a new symlink is made beside it and renamed over it,
 * and rename(2) replaces a directory entry atomically. A reader resolving `link` sees the old
 * target or the new one, never a missing link or a half-made one.
 */
export async function switchSymlink(link: string, target: string): Promise<void> {
  const temp = join(dirname(link), `.${randomBytes(6).toString('hex')}.link-tmp`);
  await symlink(target, temp);
  try {
    await rename(temp, link);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** The link's target as written, or undefined if there is no link. */
export async function readSymlink(link: string): Promise<string | undefined> {
  try {
    return await readlink(link);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
    throw err;
  }
}
