import { execFileSync, spawn } from 'node:child_process';
import { existsSync, openSync, readlinkSync } from 'node:fs';
import { docker } from '../../helpers/docker.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function dockerdPid(): number | undefined {
  try {
    const out = execFileSync('pgrep', ['-x', 'dockerd'], { encoding: 'utf8' }).trim().split('\n')[0];
    return out ? Number(out) : undefined;
  } catch {
    return undefined;
  }
}

async function answers(): Promise<boolean> {
  try {
    await docker.ping();
    return true;
  } catch {
    return false;
  }
}

/** Starts dockerd in its own session (there is no systemd here), logging to `logFile`, and waits for the socket. */
export async function startDockerd(logFile: string, timeoutMs = 60_000): Promise<void> {
  if (dockerdPid() === undefined) {
    const out = openSync(logFile, 'a');
    spawn('dockerd', [], { detached: true, stdio: ['ignore', out, out] }).unref();
  }
  const deadline = Date.now() + timeoutMs;
  while (!(await answers())) {
    if (Date.now() > deadline) throw new Error(`dockerd did not answer on /var/run/docker.sock within ${timeoutMs} ms; see ${logFile}`);
    await sleep(100);
  }
}

/**
 * Restarts the engine the way an operator or a package upgrade would: SIGTERM, wait for it to exit
 * (it stops every container first), start it again. Every container on the machine is affected,
 * which is why the test using this runs only when asked (CERTITRACK_FAULTS_DOCKERD=1).
 * Returns when the socket answers again, always trying to leave a running engine behind.
 */
export async function restartDockerd(ownInstance: string): Promise<{ stoppedAt: Date; backAt: Date; logFile: string; othersRunning: string[] }> {
  const pid = dockerdPid();
  // Other people's running containers, to put back as they were: the engine leaves those without a
  // restart policy stopped. Never this test's own: bringing those back is the agent's job.
  const othersRunning = (await docker.listContainers({ all: false }))
    .filter((c) => c.Labels['io.certitrack.instance'] !== ownInstance)
    .map((c) => c.Id);
  if (pid === undefined) throw new Error('dockerd is not running');
  let logFile = '/tmp/dockerd.log';
  try {
    const current = readlinkSync(`/proc/${pid}/fd/1`);
    if (current.startsWith('/') && !current.startsWith('/dev/')) logFile = current;
  } catch {
    // Keep the default log file.
  }
  process.kill(pid, 'SIGTERM');
  let stoppedAt = new Date();
  try {
    const deadline = Date.now() + 120_000;
    while (existsSync(`/proc/${pid}`)) {
      if (Date.now() > deadline) throw new Error(`dockerd (pid ${pid}) did not exit within 120 s of SIGTERM`);
      await sleep(100);
    }
    stoppedAt = new Date();
  } finally {
    // Even if waiting failed, never leave the machine without an engine.
    await startDockerd(logFile);
  }
  return { stoppedAt, backAt: new Date(), logFile, othersRunning };
}

/**
 * Starts again the given containers (other people's, running before the restart) that the engine
 * left stopped. Best effort; returns how many it started.
 */
export async function restoreContainers(ids: readonly string[]): Promise<number> {
  let restored = 0;
  // A few passes: a container that needs another one up first (nginx resolving its upstreams) may
  // exit at once on the first try.
  for (let pass = 0; pass < 3; pass++) {
    if (pass > 0) await sleep(1500);
    for (const id of ids) {
      const info = await docker.getContainer(id).inspect().catch(() => undefined);
      if (!info || info.State.Running) continue;
      await docker.getContainer(id).start().then(() => restored++, () => undefined);
    }
  }
  return restored;
}
