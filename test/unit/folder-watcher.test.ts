import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
});
