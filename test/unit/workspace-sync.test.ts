import { chmod, lstat, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { syncWorkspace } from '../../src/sources/workspace-sync.js';
import { removeDir, tempDir } from '../helpers/docker.js';

// The git workspace: one folder for every commit, changed in place file by file, so bind mounts
// and certificate paths survive commits (issue 11, item 6).
let root: string;
let workspace: string;
let record: string;
let checkouts = 0;

beforeEach(async () => {
  root = await tempDir('workspace-sync');
  workspace = join(root, 'workspace');
  record = join(root, 'workspace-files.json');
});
afterEach(async () => removeDir(root));

/** A checkout of a commit: a fresh folder holding exactly `files`. */
async function checkout(files: Record<string, string>): Promise<{ dir: string; files: string[] }> {
  const dir = join(root, `checkout-${++checkouts}`);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return { dir, files: Object.keys(files) };
}

async function sync(files: Record<string, string>) {
  const c = await checkout(files);
  return syncWorkspace(c.dir, workspace, c.files, record);
}

const read = (path: string): Promise<string> => readFile(join(workspace, path), 'utf8');
const inode = async (path: string): Promise<number> => (await stat(join(workspace, path))).ino;

describe('syncing a commit into the workspace', () => {
  it('creates the files of the first commit and records them', async () => {
    const r = await sync({ 'app.yaml': 'a: 1\n', 'conf/nginx.conf': 'events {}\n' });
    expect(r.created.sort()).toEqual(['app.yaml', 'conf/nginx.conf']);
    expect(await read('conf/nginx.conf')).toBe('events {}\n');
    expect(JSON.parse(await readFile(record, 'utf8'))).toEqual({ files: ['app.yaml', 'conf/nginx.conf'] });
  });

  it('rewrites a changed file into the same inode and leaves unchanged files alone', async () => {
    await sync({ 'app.yaml': 'a: 1\n', 'nginx.conf': 'worker_processes 1; # a long first version\n' });
    const [confInode, appInode, appMtime] = [await inode('nginx.conf'), await inode('app.yaml'), (await stat(join(workspace, 'app.yaml'))).mtimeMs];
    const r = await sync({ 'app.yaml': 'a: 1\n', 'nginx.conf': 'worker_processes 2;\n' });
    expect(r).toEqual({ created: [], updated: ['nginx.conf'], removed: [], unchanged: 1 });
    expect(await read('nginx.conf')).toBe('worker_processes 2;\n');
    expect(await inode('nginx.conf')).toBe(confInode);
    expect(await inode('app.yaml')).toBe(appInode);
    expect((await stat(join(workspace, 'app.yaml'))).mtimeMs).toBe(appMtime);
  });

  it('removes what the previous commit had and this one does not, and never what the repository never had', async () => {
    await sync({ 'app.yaml': 'a\n', 'old/extra.conf': 'x\n', 'ssl/.gitkeep': '' });
    await writeFile(join(workspace, 'ssl', 'cert.pem'), 'written by the agent');
    await writeFile(join(workspace, 'old', 'agent-note'), 'also the agent');
    const r = await sync({ 'app.yaml': 'a\n' });
    expect(r.removed.sort()).toEqual(['old/extra.conf', 'ssl/.gitkeep']);
    expect(await read('ssl/cert.pem')).toBe('written by the agent');
    expect(await read('old/agent-note')).toBe('also the agent');
    expect(existsSync(join(workspace, 'old', 'extra.conf'))).toBe(false);
  });

  it('removes folders the repository emptied', async () => {
    await sync({ 'app.yaml': 'a\n', 'deep/er/file.txt': 'x\n' });
    await sync({ 'app.yaml': 'a\n' });
    expect(existsSync(join(workspace, 'deep'))).toBe(false);
  });

  it('mirrors the executable bit', async () => {
    const c = await checkout({ 'app/run.sh': '#!/bin/sh\n' });
    await chmod(join(c.dir, 'app/run.sh'), 0o755);
    await syncWorkspace(c.dir, workspace, c.files, record);
    expect((await stat(join(workspace, 'app/run.sh'))).mode & 0o777).toBe(0o755);
    const again = await checkout({ 'app/run.sh': '#!/bin/sh\n' });
    await chmod(join(again.dir, 'app/run.sh'), 0o644);
    const r = await syncWorkspace(again.dir, workspace, again.files, record);
    expect(r.updated).toEqual(['app/run.sh']);
    expect((await stat(join(workspace, 'app/run.sh'))).mode & 0o777).toBe(0o644);
  });

  it('turns a file into a folder and back', async () => {
    await sync({ conf: 'a file\n' });
    await sync({ 'conf/nginx.conf': 'now a folder\n' });
    expect(await read('conf/nginx.conf')).toBe('now a folder\n');
    await sync({ conf: 'a file again\n' });
    expect(await read('conf')).toBe('a file again\n');
  });

  it('replaces a link in the workspace instead of writing through it', async () => {
    const outside = join(root, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'victim'), 'untouched');
    await mkdir(workspace, { recursive: true });
    await symlink(join(outside, 'victim'), join(workspace, 'app.yaml'));
    await symlink(outside, join(workspace, 'conf'));
    await sync({ 'app.yaml': 'a\n', 'conf/victim': 'b\n' });
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('untouched');
    expect((await lstat(join(workspace, 'app.yaml'))).isFile()).toBe(true);
    expect((await lstat(join(workspace, 'conf'))).isDirectory()).toBe(true);
  });

  it('records the old and new files together before changing anything, so an interrupted sync is finished by the next', async () => {
    await sync({ 'app.yaml': 'a\n' });
    // The next commit has a file the checkout cannot provide: the sync fails halfway.
    const c = await checkout({ 'app.yaml': 'b\n', 'new.conf': 'n\n' });
    await expect(syncWorkspace(c.dir, workspace, [...c.files, 'missing.conf'], record)).rejects.toThrow(/ENOENT/);
    expect(JSON.parse(await readFile(record, 'utf8')).files).toEqual(['app.yaml', 'missing.conf', 'new.conf']);
    // Back to the first commit: what the failed sync created is known to be the repository's.
    const r = await sync({ 'app.yaml': 'a\n' });
    expect(r.removed).toEqual(['new.conf']);
    expect(existsSync(join(workspace, 'new.conf'))).toBe(false);
  });

  it('refuses a path outside the workspace', async () => {
    const c = await checkout({ 'app.yaml': 'a\n' });
    await expect(syncWorkspace(c.dir, workspace, ['../escape'], record)).rejects.toThrow(/not a path inside the repository/);
    expect(existsSync(workspace)).toBe(false);
  });
});
