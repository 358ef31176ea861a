import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DurableState } from '../../src/state/durable-state.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'durable-state-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) {
    await chmod(d, 0o700).catch(() => undefined);
    await rm(d, { recursive: true, force: true });
  }
});

describe('DurableState', () => {
  it('creates hash.key (0600) only when absent and reuses it afterwards', async () => {
    const dir = await tempDir();
    const first = await DurableState.open(dir);
    expect((await stat(join(dir, 'hash.key'))).mode & 0o777).toBe(0o600);
    const again = await DurableState.open(dir);
    expect(again.hashKey.equals(first.hashKey)).toBe(true);
  });

  it('refuses to start, and keeps the key, when hash.key exists but cannot be read', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'hash.key')); // EISDIR on read
    await expect(DurableState.open(dir)).rejects.toThrow(/cannot read the spec-hash key .*EISDIR.*refusing to make a new one/);
    expect((await stat(join(dir, 'hash.key'))).isDirectory()).toBe(true);
  });

  it('refuses a truncated key instead of silently changing every hash', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'hash.key'), Buffer.alloc(5));
    await expect(DurableState.open(dir)).rejects.toThrow(/5 bytes; expected 32/);
  });

  it('reports a failed background flush and writes the change with the next successful one', async () => {
    const dir = await tempDir();
    const errors: Error[] = [];
    const state = await DurableState.open(dir, { flushDelayMs: 1, onFlushError: (e) => errors.push(e) });
    // Root ignores directory permissions, so make the write fail by putting a directory where the temp file goes.
    const statePath = join(dir, 'state.json');
    await mkdir(statePath);
    state.set('meta', 'k', 'v1');
    await expect(state.flush()).rejects.toThrow();
    state.set('meta', 'k', 'v2');
    await vi.waitFor(() => expect(errors.length).toBeGreaterThan(0));
    await rm(statePath, { recursive: true });
    await state.flush();
    expect(JSON.parse(await readFile(statePath, 'utf8'))).toEqual({ meta: { k: 'v2' } });
  });
});
