import { constants } from 'node:fs';
import { lstat, mkdir, open, readFile, rm, rmdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../state/atomic-write.js';
import { ignoreMissing } from '../util/ignore-missing.js';

/** What one sync changed, as paths relative to the workspace root. */
export interface WorkspaceSyncResult {
  created: string[];
  updated: string[];
  removed: string[];
  unchanged: number;
}

interface SyncRecord {
  /** Every file the workspace holds because a commit had it (repository-relative paths). */
  files: string[];
}

const WRITE_IN_PLACE = constants.O_WRONLY | constants.O_NOFOLLOW;
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Makes the stable folder `to` hold exactly the repository files `files` as they are in the
 * checkout `from`, changing only what differs:
 *
 * - a changed file is rewritten in place (same inode: a single-file Docker bind mount is pinned
 *   to the inode, so a rename-replace would leave running containers on the old content);
 * - a new file is created, a file of the previous sync that is gone now is removed (and its
 *   folders, once empty);
 * - anything else in `to` (files the agent wrote, such as certificates) is left alone, except
 *   where the repository now puts one of its own files or folders.
 *
 * Which files came from the repository is kept in `recordFile`. Before anything changes the
 * record lists the old and the new files together, so a crash halfway leaves nothing that the
 * next sync would not know to remove.
 */
export async function syncWorkspace(from: string, to: string, files: readonly string[], recordFile: string): Promise<WorkspaceSyncResult> {
  for (const f of files) checkRelative(f);
  const previous = (await readRecord(recordFile)).filter(isRelative);
  const wanted = new Set(files);
  if (files.some((f) => !previous.includes(f))) await writeRecord(recordFile, [...new Set([...previous, ...files])]);

  const result: WorkspaceSyncResult = { created: [], updated: [], removed: [], unchanged: 0 };
  await mkdir(to, { recursive: true, mode: 0o755 });
  // Removals first: a file that becomes a folder (or the reverse) then finds the path free.
  for (const rel of previous) {
    if (wanted.has(rel)) continue;
    if (await removeFile(join(to, rel))) result.removed.push(rel);
    await removeEmptyFolders(to, dirname(rel));
  }
  const folders = new Set<string>();
  for (const rel of files) {
    const source = join(from, rel);
    const st = await lstat(source);
    if (!st.isFile()) continue; // a submodule's empty folder: nothing to mirror
    await ensureFolders(to, dirname(rel), folders);
    const outcome = await writeInPlace(join(to, rel), await readFile(source), st.mode & 0o777);
    if (outcome === 'unchanged') result.unchanged++;
    else result[outcome].push(rel);
  }
  await writeRecord(recordFile, [...files]);
  return result;
}

async function writeInPlace(path: string, data: Buffer, mode: number): Promise<'created' | 'updated' | 'unchanged'> {
  let st = await lstat(path).catch(ignoreMissing);
  if (st && !st.isFile()) {
    // The repository's file wins over a folder or a link in its place; a link is never followed.
    await rm(path, { recursive: true, force: true });
    st = undefined;
  }
  if (!st) {
    const fh = await open(path, CREATE_NEW, mode);
    try {
      await fh.writeFile(data);
      await fh.chmod(mode); // umask may have narrowed what open() asked for
    } finally {
      await fh.close();
    }
    return 'created';
  }
  const modeDiffers = (st.mode & 0o777) !== mode;
  const sameContent = st.size === data.length && (await readFile(path)).equals(data);
  if (sameContent && !modeDiffers) return 'unchanged';
  const fh = await open(path, WRITE_IN_PLACE);
  try {
    if (!sameContent) {
      // Write, then cut to length (no O_TRUNC): a reader never finds the file empty.
      await fh.write(data, 0, data.length, 0);
      await fh.truncate(data.length);
    }
    if (modeDiffers) await fh.chmod(mode);
  } finally {
    await fh.close();
  }
  return 'updated';
}

/** Makes every folder of `relDir` under `root` a real folder (a file or link in the way is removed, never followed). */
async function ensureFolders(root: string, relDir: string, known: Set<string>): Promise<void> {
  if (relDir === '.' || known.has(relDir)) return;
  await ensureFolders(root, dirname(relDir), known);
  const path = join(root, relDir);
  const st = await lstat(path).catch(ignoreMissing);
  if (!st?.isDirectory()) {
    if (st) await rm(path, { force: true });
    await mkdir(path, { mode: 0o755 });
  }
  known.add(relDir);
}

async function removeFile(path: string): Promise<boolean> {
  const st = await lstat(path).catch(ignoreMissing);
  if (!st || st.isDirectory()) return false; // already gone, or no longer ours to remove
  await unlink(path);
  return true;
}

/** Removes `relDir` and its parents below `root` while they are empty. */
async function removeEmptyFolders(root: string, relDir: string): Promise<void> {
  for (let d = relDir; d !== '.'; d = dirname(d)) {
    try {
      await rmdir(join(root, d));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') return;
      throw err;
    }
  }
}

async function readRecord(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(ignoreMissing);
  if (text === undefined) return [];
  const parsed = JSON.parse(text) as Partial<SyncRecord>;
  return Array.isArray(parsed.files) ? parsed.files.filter((f): f is string => typeof f === 'string') : [];
}

async function writeRecord(file: string, files: string[]): Promise<void> {
  const record: SyncRecord = { files: files.sort() };
  await writeFileAtomic(file, JSON.stringify(record) + '\n', 0o600);
}

/** A path inside the root: relative, no empty, `.` or `..` segment. */
function isRelative(path: string): boolean {
  return path.length > 0 && !path.startsWith('/') && path.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

function checkRelative(path: string): void {
  if (!isRelative(path)) throw new Error(`refusing to sync "${path}": not a path inside the repository`);
}
