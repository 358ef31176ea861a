import { readdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dirent } from 'node:fs';
import { readBoundedFile } from '../util/bounded-read.js';
import { isWithin } from './host-paths.js';

/** A manifest larger than this is a mistake (or an attack), not configuration. */
export const MAX_FILE_BYTES = 1024 * 1024;
/** All manifests of a folder together; past this the load is refused without reading further. */
export const MAX_TOTAL_BYTES = 20 * 1024 * 1024;

/** A *.yaml / *.yml entry of the folder: readable (with the real path to open), or refused unread. */
export type ListedFile = { path: string; real: string } | { path: string; refused: string };

function kindOfEntry(e: Dirent): string {
  if (e.isFIFO()) return 'a FIFO';
  if (e.isSocket()) return 'a socket';
  if (e.isCharacterDevice()) return 'a character device';
  if (e.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * Every *.yaml / *.yml under `root` (a real path), sorted; hidden entries are skipped (editor swap
 * files, .git). Entries are typed without following links (lstat): regular files are read,
 * symlinks only when their real path is a file inside the folder, and FIFOs, devices and sockets
 * are refused without being opened, so nothing outside the folder is ever read.
 */
export async function listManifestFiles(root: string): Promise<ListedFile[]> {
  const out: ListedFile[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = join(d, e.name);
      if (e.isDirectory()) {
        await walk(full);
        continue;
      }
      if (!/\.ya?ml$/.test(e.name)) continue;
      if (e.isFile()) out.push({ path: full, real: full });
      else if (e.isSymbolicLink()) out.push(await followLink(root, full));
      else out.push({ path: full, refused: `is ${kindOfEntry(e)}, not a regular file; not read` });
    }
  };
  await walk(root);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function followLink(root: string, path: string): Promise<ListedFile> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    // Removed between listing and reading (a checkout in progress), or a dangling link: the load is not a
    // consistent picture of the folder, so it fails; the watcher's next event loads it again.
    return { path, refused: code === 'ENOENT' ? 'file disappeared while the folder was being read' : `cannot read file (${code})` };
  }
  if (!isWithin(real, root)) return { path, refused: `is a symbolic link to ${real}, outside the manifests folder; not read` };
  return { path, real };
}

/** Reads the listed files in order within the per-file and total caps, counting while reading. */
export class ManifestReader {
  private used = 0;

  /** The file's bytes, or why it was not read (a message that never quotes content). */
  async read(file: { real: string }): Promise<{ ok: true; data: Buffer } | { ok: false; message: string }> {
    const remaining = MAX_TOTAL_BYTES - this.used;
    if (remaining <= 0) return { ok: false, message: `not read: the folder's manifests exceed ${MAX_TOTAL_BYTES / 1024 / 1024} MiB in total` };
    const limit = Math.min(MAX_FILE_BYTES, remaining);
    const r = await readBoundedFile(file.real, limit);
    if (r.ok) {
      this.used += r.data.length;
      return r;
    }
    if (r.reason === 'too-large') {
      this.used = limit === MAX_FILE_BYTES ? this.used : MAX_TOTAL_BYTES;
      return {
        ok: false,
        message: limit === MAX_FILE_BYTES ? `file is over the limit: manifests are limited to ${MAX_FILE_BYTES} bytes (1 MiB) each, counted while reading` : `not read: the folder's manifests exceed ${MAX_TOTAL_BYTES / 1024 / 1024} MiB in total`,
      };
    }
    if (r.reason === 'missing') return { ok: false, message: 'file disappeared while the folder was being read' };
    return { ok: false, message: `file ${r.detail}; not read` };
  }
}
