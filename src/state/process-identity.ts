import { readFileSync } from 'node:fs';

/**
 * A process recorded by PID (a lock holder, a service hold) still exists, is not a zombie, and (where /proc tells) is the same process, not a
 * reused PID. The host name is not asked: the agent's container gets a new one each time it is
 * recreated, and its old lock must still be taken over.
 */
export function isRunning(holder: { pid: number; processStart?: string | undefined }): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const stat = procStat(holder.pid);
  if (!stat) return true;
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return holder.processStart === undefined || holder.processStart === stat.start;
}

export function processStart(pid: number): string | undefined {
  return procStat(pid)?.start;
}

/** State and start time from /proc/PID/stat; the name in parentheses may itself hold spaces and parentheses. */
function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const [state, start] = [fields[0], fields[19]];
    return state && start ? { state, start } : undefined;
  } catch {
    return undefined;
  }
}
