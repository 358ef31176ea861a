import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { ServiceSpec } from '../../manifests/kinds/service.js';
import type { Resource } from '../../manifests/resource.js';

/** State section: the content each Service's container was last given (created with, or reloaded to). */
export const MOUNTS_SECTION = 'mountedFiles';

/** Beyond this a bind-mounted folder is data, not configuration: its content is not tracked. */
const MAX_TRACKED_FILES = 2000;
const MAX_TRACKED_BYTES = 64 * 1024 * 1024;

/** What a bind mount written relative to its manifest (so inside the manifests folder) holds now. */
export interface MountedContent {
  /** sha256 of the file, or of every file's path and content under the folder. */
  digest: string;
  /**
   * For a single file: its inode. Docker pins a file bind mount to the inode it found at create, so
   * a file replaced by rename (most editors, every git checkout) is invisible to the running
   * container however often it reloads: only a new container sees it.
   */
  inode?: number;
}

/** By mount source as written (e.g. `./nginx.conf`). */
export type MountedContents = Readonly<Record<string, MountedContent>>;

/**
 * The content of every read-only bind mount the manifest writes with a relative path: configuration
 * that travels with the manifests (nginx.conf), whose change must reach the container like any
 * other change of the spec. Absolute host paths are the host's (data, sockets) and are not read.
 */
export async function readMountedContents(svc: Resource<ServiceSpec>): Promise<MountedContents> {
  const out: Record<string, MountedContent> = {};
  for (const v of svc.spec.volumes) {
    if (v.type !== 'bind' || isAbsolute(v.source) || !v.readOnly) continue;
    const path = resolve(svc.source.dir, v.source);
    const st = await stat(path).catch(() => undefined);
    if (!st) continue; // the loader checked it exists; a race with an edit shows up next time
    if (st.isFile()) out[v.source] = { digest: createHash('sha256').update(await readFile(path)).digest('hex').slice(0, 16), inode: st.ino };
    else if (st.isDirectory()) {
      const digest = await digestTree(path);
      if (digest) out[v.source] = { digest };
    }
  }
  return out;
}

async function digestTree(root: string): Promise<string | undefined> {
  const h = createHash('sha256');
  let files = 0;
  let bytes = 0;
  const walk = async (dir: string): Promise<boolean> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const full = join(dir, e.name);
      if (e.isDirectory()) {
        if (!(await walk(full))) return false;
      } else if (e.isFile()) {
        const size = (await lstat(full)).size;
        if (++files > MAX_TRACKED_FILES || (bytes += size) > MAX_TRACKED_BYTES) return false;
        h.update(relative(root, full)).update('\0').update(await readFile(full)).update('\0');
      }
    }
    return true;
  };
  return (await walk(root)) ? h.digest('hex').slice(0, 16) : undefined;
}

/** The inodes of the file mounts, as they enter a spec hash when a reload is declared. */
export const inodesOf = (c: MountedContents): Record<string, number> =>
  Object.fromEntries(Object.entries(c).flatMap(([k, v]) => (v.inode === undefined ? [] : [[k, v.inode]])));

/** The mounts whose content differs from what the container was given. */
export function changedMounts(now: MountedContents, given: MountedContents | undefined): string[] {
  if (!given) return [];
  return Object.keys(now).filter((source) => now[source]?.digest !== given[source]?.digest);
}

/** The digests alone, as they enter a spec hash (inodes are not content). */
export const digestsOf = (c: MountedContents): Record<string, string> => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v.digest]));
