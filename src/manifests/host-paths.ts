import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';

/**
 * The real path of `path` (absolute), following every symlink. For a path that does not exist yet
 * (a certificate to be written), the real path of its nearest existing ancestor joined with the
 * rest, so a link anywhere along the way is seen.
 */
export function realPathOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    if (parent === path) return path;
    return join(realPathOf(parent), basename(path));
  }
}

/** `path` is `root` or below it (both real, absolute paths). */
export function isWithin(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** A protected path that `path` is, lies inside, or contains (then mounting it would reach the protected one). */
export function protectedHit(path: string, protectedPaths: readonly string[]): string | undefined {
  return protectedPaths.find((p) => isWithin(path, p) || isWithin(p, path));
}
