import { isAbsolute, relative, resolve } from 'node:path';

export interface HostPath {
  path: string;
  /** Outside the manifests folder, so made absolute. */
  outside: boolean;
}

/**
 * A host path written in a compose file (relative to the compose file's folder), as a manifest
 * in `outputDir` must write it. Inside the manifests folder it stays relative, so it travels with
 * the folder (e.g. in git). Outside it is written absolute, because the agent rejects relative
 * paths that climb out of its manifests folder; `outside` says so, since that absolute path is
 * this machine's.
 */
export function manifestHostPath(path: string, composeDir: string, outputDir: string): HostPath {
  if (isAbsolute(path)) return { path, outside: false };
  const full = resolve(composeDir, path);
  const rel = relative(outputDir, full) || '.';
  if (rel === '..' || rel.startsWith('../') || isAbsolute(rel)) return { path: full, outside: true };
  return { path: rel === '.' || rel.startsWith('./') ? rel : `./${rel}`, outside: false };
}
