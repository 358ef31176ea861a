import { execFile } from 'node:child_process';

/**
 * systemd's readiness and watchdog protocol (sd_notify) for a unit with Type=notify.
 *
 * The protocol is a datagram on the AF_UNIX socket named by NOTIFY_SOCKET. Node can open neither a
 * unix datagram socket (`dgram` is UDP only) nor a SOCK_DGRAM one through `net`, so the message is
 * sent by systemd's own `systemd-notify`. That needs `NotifyAccess=all` in the unit, because the
 * sender is a child rather than the main PID; systemd-notify (v246 and later) waits on a barrier until
 * systemd has read the message, so the child exiting first cannot make systemd drop it.
 *
 * Every function is a no-op resolving to false when NOTIFY_SOCKET is unset (not under systemd,
 * or Type is not notify). A failure to notify is returned, never thrown: a missed watchdog ping
 * is systemd's to act on, and crashing the agent over it would be worse.
 */

export interface NotifyOptions {
  env?: NodeJS.ProcessEnv;
  /** The systemd-notify binary; tests point it elsewhere. */
  command?: string;
  timeoutMs?: number;
}

const DEFAULT_COMMAND = 'systemd-notify';

function send(args: readonly string[], opts: NotifyOptions = {}): Promise<boolean> {
  const env = opts.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return Promise.resolve(false);
  return new Promise((resolve) => {
    // Only what systemd-notify needs: the agent's environment holds secrets.
    const childEnv: NodeJS.ProcessEnv = { NOTIFY_SOCKET: socket, PATH: env.PATH ?? '/usr/bin:/bin' };
    execFile(opts.command ?? DEFAULT_COMMAND, [...args], { env: childEnv, timeout: opts.timeoutMs ?? 10_000 }, (err) => resolve(!err));
  });
}

/** READY=1: startup finished. Call once the first manifests load is done and the HTTP endpoint listens. */
export const notifyReady = (status?: string, opts?: NotifyOptions): Promise<boolean> =>
  send(['--ready', ...(status ? [`--status=${status}`] : [])], opts);

/** WATCHDOG=1: the control loop is alive. Call every {@link watchdogIntervalMs} from the loop itself. */
export const notifyWatchdog = (opts?: NotifyOptions): Promise<boolean> => send(['WATCHDOG=1'], opts);

/** STOPPING=1: shutdown has begun, so systemd does not mistake a slow stop for a hang. */
export const notifyStopping = (opts?: NotifyOptions): Promise<boolean> => send(['STOPPING=1'], opts);

/**
 * How often to ping the watchdog: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises.
 * undefined when there is no watchdog, when NOTIFY_SOCKET is unset, or when WATCHDOG_PID names
 * another process (the variables were inherited, not meant for us).
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): number | undefined {
  if (!env.NOTIFY_SOCKET) return undefined;
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}
