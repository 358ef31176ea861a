import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildContextFiles, hashBuildContext } from '../../src/adapters/docker/build-context.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'build-context-'));
  await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\n');
  await mkdir(join(dir, 'node_modules', 'x'), { recursive: true });
  await writeFile(join(dir, 'node_modules', 'x', 'index.js'), '1');
  await writeFile(join(dir, 'app.js'), 'console.log(1)');
  await writeFile(join(dir, 'debug.log'), 'noise');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('build context', () => {
  it('lists what Docker would receive, honouring .dockerignore', async () => {
    expect(await buildContextFiles(dir)).toEqual(['Dockerfile', 'app.js', 'debug.log', 'node_modules/x/index.js']);
    await writeFile(join(dir, '.dockerignore'), 'node_modules\n*.log\n');
    expect(await buildContextFiles(dir)).toEqual(['.dockerignore', 'Dockerfile', 'app.js']);
  });

  it('changes the hash only when a file that is sent changes', async () => {
    await writeFile(join(dir, '.dockerignore'), 'node_modules\n*.log\n');
    const before = await hashBuildContext(dir);
    await writeFile(join(dir, 'debug.log'), 'more noise');
    await writeFile(join(dir, 'node_modules', 'x', 'index.js'), '2');
    expect(await hashBuildContext(dir)).toBe(before);
    await writeFile(join(dir, 'app.js'), 'console.log(2)');
    expect(await hashBuildContext(dir)).not.toBe(before);
  });
});
