import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TailBuffer } from '../adapters/demux.js';
import { drainingStdin } from './postgres-client.js';

/** Untars over a host directory (made if missing): files not in the archive are left as they are. */
export async function hostUntar(dir: string, body: Readable, signal: AbortSignal): Promise<void> {
  await mkdir(dir, { recursive: true });
  const [cmd, ...args] = drainingStdin(['tar', '-C', dir, '-xf', '-']) as [string, ...string[]];
  const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], signal });
  const stderr = new TailBuffer(2048);
  child.stderr.on('data', (c: Buffer) => stderr.push(c));
  const exited = new Promise<number | null>((res, rej) => {
    child.once('error', rej);
    child.once('close', (code) => res(code));
  });
  try {
    await pipeline(body, child.stdin as Writable);
  } catch (err) {
    child.kill('SIGTERM');
    await exited.catch(() => undefined);
    throw err;
  }
  const code = await exited;
  if (code !== 0) throw new Error(`tar -x into ${dir} exited with code ${code}: ${stderr.toString().trim()}`);
}

/** Writes beside the file and renames over it, so a failed restore leaves the old file as it was. */
export async function replaceFile(path: string, body: Readable, signal: AbortSignal): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${randomBytes(4).toString('hex')}.restore`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await pipeline(body, fh.createWriteStream({ flush: true }), { signal });
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
