import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCK_FILE, StateDirLock, StateDirLockedError } from '../../src/state/state-dir-lock.js';
import { ROOT } from '../helpers/cli.js';
import { removeDir, tempDir } from '../helpers/docker.js';

// Issue 11, item 7: two agents or applies never act on one state dir at once.
let stateDir: string;
const held: StateDirLock[] = [];
beforeEach(async () => {
  stateDir = await tempDir('lock');
});
afterEach(async () => {
  await Promise.all(held.splice(0).map((l) => l.release()));
  await removeDir(stateDir);
});

const acquire = async (command?: string): Promise<StateDirLock> => {
  const lock = await StateDirLock.acquire(stateDir, command);
  held.push(lock);
  return lock;
};

/** A PID that belonged to a process that has exited (and been reaped). */
const deadPid = (): number => Number(execFileSync('sh', ['-c', 'sh -c "echo \\$\\$"'], { encoding: 'utf8' }).trim());

const MODULE = join(ROOT, 'src', 'state', 'state-dir-lock.ts');

/**
 * Processes racing for the same lock. Each prints "won" or the error's name; a winner then holds
 * the lock until its stdin closes, which happens once every contender has answered, so a slow
 * starter never finds the lock already released.
 */
async function race(n: number): Promise<string[]> {
  const code = `const { StateDirLock } = await import(${JSON.stringify(MODULE)});
    try { await StateDirLock.acquire(${JSON.stringify(stateDir)}, 'contender'); console.log('won'); process.stdin.resume(); process.stdin.on('end', () => process.exit(0)); }
    catch (err) { console.log(err.name); }`;
  const children = Array.from({ length: n }, () => spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] }));
  const exited = children.map((child) => new Promise((resolve) => child.once('exit', resolve)));
  const answers = await Promise.all(
    children.map((child) => new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())))),
  );
  for (const child of children) child.stdin.end();
  await Promise.all(exited);
  return answers;
}

describe('the state dir lock', () => {
  it('refuses a second holder, naming the PID, the command and when it started', async () => {
    const first = await acquire('certitrack-agent run -m /srv/manifests');
    const refused = acquire('certitrack-agent apply /srv/manifests');
    await expect(refused).rejects.toBeInstanceOf(StateDirLockedError);
    await expect(refused).rejects.toThrow(new RegExp(`held by PID ${process.pid} \\(certitrack-agent run -m /srv/manifests\\), running since \\d{4}-\\d\\d-\\d\\dT`));
    await first.release();
    expect(existsSync(join(stateDir, LOCK_FILE))).toBe(false);
    await expect(acquire()).resolves.toBeInstanceOf(StateDirLock);
  });

  it('takes over a lock whose process is gone, and says whose it was', async () => {
    const pid = deadPid();
    await writeFile(join(stateDir, LOCK_FILE), JSON.stringify({ pid, command: 'certitrack-agent apply x', startedAt: '2026-01-01T00:00:00.000Z', host: hostname() }));
    const lock = await acquire();
    expect(lock.tookOverFrom).toMatchObject({ pid, command: 'certitrack-agent apply x' });
    expect(JSON.parse(await readFile(join(stateDir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
  });

  it('takes over the lock of an earlier container of the agent (another host name, its PID gone)', async () => {
    await writeFile(join(stateDir, LOCK_FILE), JSON.stringify({ pid: deadPid(), command: 'agent in the old container', startedAt: '2026-01-01T00:00:00.000Z', host: '3f2a9c1b7d4e' }));
    expect((await acquire()).tookOverFrom).toMatchObject({ command: 'agent in the old container' });
  });

  it('takes over a lock whose PID now belongs to another process', async () => {
    // PID 1 is alive, but it started long before this lock claims its holder did.
    await writeFile(join(stateDir, LOCK_FILE), JSON.stringify({ pid: 1, command: 'old agent', startedAt: '2026-01-01T00:00:00.000Z', host: hostname(), processStart: '999999999999' }));
    expect((await acquire()).tookOverFrom).toMatchObject({ pid: 1, command: 'old agent' });
  });

  it('takes over an unreadable lock file', async () => {
    await writeFile(join(stateDir, LOCK_FILE), 'garbage');
    expect((await acquire()).tookOverFrom).toMatchObject({ command: 'unreadable lock file' });
  });

  it('leaves no lock behind when its process exits without releasing it', async () => {
    const code = `const { StateDirLock } = await import(${JSON.stringify(MODULE)}); await StateDirLock.acquire(${JSON.stringify(stateDir)}); process.exit(3);`;
    expect(() => execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT })).toThrow();
    expect(readdirSync(stateDir)).toEqual([]);
  });

  it('has exactly one winner when several processes race for it', async () => {
    const answers = await race(4);
    expect(answers.filter((r) => r === 'won')).toHaveLength(1);
    expect(answers.filter((r) => r === 'StateDirLockedError')).toHaveLength(3);
  }, 30_000);

  it('has exactly one winner when several processes race to take over a stale lock', async () => {
    await writeFile(join(stateDir, LOCK_FILE), JSON.stringify({ pid: deadPid(), command: 'crashed agent', startedAt: '2026-01-01T00:00:00.000Z', host: hostname() }));
    const answers = await race(4);
    expect(answers.filter((r) => r === 'won')).toHaveLength(1);
    expect(answers.filter((r) => r === 'StateDirLockedError')).toHaveLength(3);
    expect(readdirSync(stateDir)).toEqual([]);
  }, 30_000);
});
