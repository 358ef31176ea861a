import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import dockerignoreModule from '@balena/dockerignore';

// A CommonJS module whose typings declare an ES default export: under NodeNext the factory is on `.default`.
const createDockerignore = dockerignoreModule.default;

/**
 * The files of a build context that reach the engine: everything under `dir` that its
 * .dockerignore does not exclude, as relative paths. dockerode's upload filters with the same
 * library and rules, so the context hash below changes exactly when what Docker builds from does.
 */
export async function buildContextFiles(dir: string): Promise<string[]> {
  const rules = await readFile(join(dir, '.dockerignore'), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else out.push(relative(dir, full));
    }
  };
  await walk(dir);
  const files = rules === undefined ? out : out.filter(createDockerignore({ ignorecase: false }).add(rules).createFilter());
  return files.sort();
}

/** A hash of every sent file's path and content (Dockerfile contexts are small). */
export async function hashBuildContext(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const file of await buildContextFiles(dir)) h.update(file).update('\0').update(await readFile(join(dir, file))).update('\0');
  return h.digest('hex').slice(0, 16);
}
