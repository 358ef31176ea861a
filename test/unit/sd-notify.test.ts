import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { notifyReady, notifyStopping, notifyWatchdog, watchdogIntervalMs } from '../../src/server/sd-notify.js';

const dir = mkdtempSync(join(tmpdir(), 'sd-notify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const has = (cmd: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

describe('watchdogIntervalMs', () => {
  it('is half of WATCHDOG_USEC, in milliseconds', () => {
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '60000000' }, 42)).toBe(30_000);
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '60000000', WATCHDOG_PID: '42' }, 42)).toBe(30_000);
  });

  it('is undefined without systemd, without a watchdog, or when the watchdog is meant for another process', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '60000000' }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: '/run/x' }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: 'soon' }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '60000000', WATCHDOG_PID: '7' }, 42)).toBeUndefined();
  });
});

describe('notify functions', () => {
  it('do nothing when NOTIFY_SOCKET is unset', async () => {
    const marker = join(dir, 'never-run');
    const command = join(dir, 'must-not-run.sh');
    writeFileSync(command, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    expect(await notifyReady(undefined, { env: {}, command })).toBe(false);
    expect(await notifyWatchdog({ env: {}, command })).toBe(false);
    expect(() => readFileSync(marker)).toThrow();
  });

  it('pass the messages to systemd-notify without leaking the environment', async () => {
    const log = join(dir, 'args.log');
    const command = join(dir, 'fake-notify.sh');
    writeFileSync(command, `#!/bin/sh\necho "$NOTIFY_SOCKET $* secret=\${DB_PASSWORD:-none}" >> ${log}\n`, { mode: 0o755 });
    const env = { NOTIFY_SOCKET: '/run/fake.sock', PATH: process.env.PATH, DB_PASSWORD: 'hunter2' };
    expect(await notifyReady('loaded 3 resources', { env, command })).toBe(true);
    expect(await notifyWatchdog({ env, command })).toBe(true);
    expect(await notifyStopping({ env, command })).toBe(true);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual([
      '/run/fake.sock --ready --status=loaded 3 resources secret=none',
      '/run/fake.sock WATCHDOG=1 secret=none',
      '/run/fake.sock STOPPING=1 secret=none',
    ]);
  });

  it('report a failing systemd-notify as false instead of throwing', async () => {
    expect(await notifyWatchdog({ env: { NOTIFY_SOCKET: '/run/x' }, command: join(dir, 'does-not-exist') })).toBe(false);
  });

  // The end-to-end check needs a unix datagram listener, which Node cannot open; python3 plays
  // systemd's part (including closing the barrier fd) where it is installed.
  it.runIf(has('python3') && has('systemd-notify'))('deliver READY=1 and WATCHDOG=1 over a real NOTIFY_SOCKET', async () => {
    const socket = join(dir, 'notify.sock');
    const receiver: ChildProcess = spawn('python3', ['-c', PYTHON_RECEIVER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const lines = createInterface({ input: receiver.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
      expect((await lines.next()).value).toBe('listening');
      const env = { NOTIFY_SOCKET: socket, PATH: process.env.PATH };
      expect(await notifyReady('up', { env })).toBe(true);
      expect((await lines.next()).value).toBe('READY=1|STATUS=up');
      expect(await notifyWatchdog({ env })).toBe(true);
      const rest: string[] = [];
      for (let i = 0; i < 3; i++) rest.push(String((await lines.next()).value));
      expect(rest.filter((l) => l !== 'BARRIER=1')).toEqual(['WATCHDOG=1']);
    } finally {
      receiver.kill();
    }
  });
});

const PYTHON_RECEIVER = `
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(msg.decode().rstrip("\\n").replace("\\n", "|"), flush=True)
`;
