import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../state/atomic-write.js';

export const API_TOKEN_FILE = 'api.token';

/**
 * The bearer token of the TCP listener's control routes (/status, /v1/*), in `<state-dir>/api.token`
 * with mode 0600: only root can read it, so only root can call them over TCP. Created once and kept
 * across restarts, so a client configured with it keeps working.
 */
export async function ensureApiToken(stateDir: string): Promise<string> {
  const file = join(stateDir, API_TOKEN_FILE);
  try {
    const st = await lstat(file);
    if (!st.isFile()) throw new Error(`${file} is not a regular file; remove it and the agent makes a new token`);
    if ((st.mode & 0o077) !== 0) throw new Error(`${file} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); remove it and the agent makes a new token`);
    const token = (await readFile(file, 'utf8')).trim();
    if (token.length >= 32) return token;
    throw new Error(`${file} holds no token of at least 32 characters; remove it and the agent makes a new one`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('hex');
  await writeFileAtomic(file, `${token}\n`, 0o600);
  return token;
}

/** `Authorization: Bearer <token>` compared in constant time (both sides hashed to equal length first). */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const given = authorization === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  if (given === undefined) return false;
  const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(token));
}
