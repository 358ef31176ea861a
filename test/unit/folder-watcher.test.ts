import { mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FolderWatcher } from '../../src/manifests/folder-watcher.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('FolderWatcher', () => {
  it('turns a watcher error (a folder replaced by a file mid-poll) into a reload instead of a crash', async () => {
    dir = await mkdtemp(join(tmpdir(), 'watcher-'));
    await mkdir(join(dir, 'docs'));
    const onChange = vi.fn();
    const w = new FolderWatcher([dir], onChange, 10);
    w.start();
    try {
      const inner = (w as unknown as { watcher: { emit(event: string, err: Error): boolean } }).watcher;
      // What chokidar does when its stat of a polled path fails: emit 'error'. Without a listener, Node throws.
      expect(() => inner.emit('error', Object.assign(new Error('ENOTDIR: not a directory, stat'), { code: 'ENOTDIR' }))).not.toThrow();
      await vi.waitFor(() => expect(onChange).toHaveBeenCalled());
      await writeFile(join(dir, 'a.yaml'), 'x: 1\n');
    } finally {
      await w.stop();
    }
  });

  it('reloads for a dangling symbolic link coming and going (chokidar cannot stat it), not for dot files', async () => {
    dir = await mkdtemp(join(tmpdir(), 'watcher-'));
    const onChange = vi.fn();
    const w = new FolderWatcher([dir], onChange, 10);
    w.start();
    try {
      await new Promise((r) => setTimeout(r, 200));
      await writeFile(join(dir, '.hidden'), 'x');
      await new Promise((r) => setTimeout(r, 300));
      expect(onChange).not.toHaveBeenCalled();
      await symlink(join(dir, 'nowhere'), join(dir, 'dangling.yaml'));
      await vi.waitFor(() => expect(onChange).toHaveBeenCalledTimes(1), { timeout: 3000 });
      await unlink(join(dir, 'dangling.yaml'));
      await vi.waitFor(() => expect(onChange).toHaveBeenCalledTimes(2), { timeout: 3000 });
    } finally {
      await w.stop();
    }
  });
});
