import { lstat, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes the export into `out`. Existing files are never overwritten without `force`: the check
 * covers every file before the first is written, so a refused export leaves the folder untouched.
 * Files of an earlier export that this one no longer makes are left alone (kustomization.yaml no
 * longer lists them).
 */
export async function writeExport(out: string, files: ReadonlyMap<string, Buffer | string>, force: boolean): Promise<void> {
  if (!force) {
    const existing: string[] = [];
    for (const path of files.keys()) {
      if (await lstat(join(out, path)).then(() => true, () => false)) existing.push(path);
    }
    if (existing.length > 0) {
      const shown = existing.slice(0, 5).join(', ') + (existing.length > 5 ? `, and ${existing.length - 5} more` : '');
      throw new Error(`${out} already has ${existing.length} of the files the export writes (${shown}); pass --force to overwrite them`);
    }
  }
  for (const [path, content] of files) {
    const full = join(out, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
  }
}
