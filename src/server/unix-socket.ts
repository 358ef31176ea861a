import { connect, type Server } from 'node:net';
import { chmod, lstat, unlink } from 'node:fs/promises';
import { once } from 'node:events';

export const AGENT_SOCKET_FILE = 'agent.sock';

async function answering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A socket file left by an agent that died can go; a live agent's, or anything that is not a socket, stays. */
async function clearStale(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  if (await answering(path)) throw new Error(`another agent is already listening on ${path} (same --state-dir)`);
  await unlink(path);
}

/**
 * Listens on a Unix socket that only root can connect to: the file is created under umask 0177, so
 * it is 0600 from the first moment (no window where it is wider), then chmod'ed again for
 * certainty. The umask is process-wide, so it is restored synchronously, before anything else runs:
 * Node binds a pipe synchronously inside listen().
 */
export async function listenOnSocket(server: Server, path: string): Promise<void> {
  await clearStale(path);
  const previous = process.umask(0o177);
  try {
    server.listen(path);
  } finally {
    process.umask(previous);
  }
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
  await chmod(path, 0o600);
}

export async function removeSocket(path: string): Promise<void> {
  try {
    if ((await lstat(path)).isSocket()) await unlink(path);
  } catch {
    // already gone
  }
}
