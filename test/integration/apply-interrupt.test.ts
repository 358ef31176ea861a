import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../../src/state/state-dir-lock.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { cleanupInstance, containersOf, docker, inspect, removeDir, tempDir, testInstance } from '../helpers/docker.js';
import { doc, idleService, writeManifest } from '../helpers/manifests.js';

// Issue 11, item 7: apply is interruptible (SIGINT finishes the step in flight, then exits 130
// saying what was done) and exclusive (a lock on the state dir names the process holding it).
const instance = testInstance('apint');
let dir: string;
let stateDir: string;

/** Ignores SIGTERM, so stopping its container takes the whole grace period: a wide window mid-replacement. */
const stubborn = (version: string, strategy: 'StopFirst' | 'StartFirst') =>
  doc('Service', 'stubborn', idleService({ command: 'trap "" TERM; while true; do sleep 1; done', stopGracePeriod: '4s', env: { VERSION: version }, rollout: { strategy, drain: '1s' } }));

const flags = () => ['--state-dir', stateDir, '--instance', instance, '--timeout', '60s'];

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Collects a child's output and resolves when it exits. */
function finished(child: ChildProcess): Promise<Exit> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Resolves at the first Docker event of this instance's containers that `matches`. */
async function dockerEvent(matches: (e: { Action: string; id: string }) => boolean): Promise<{ until: Promise<void>; stop: () => void }> {
  const abort = new AbortController();
  const stream = (await docker.getEvents({ filters: { type: ['container'], label: [`io.certitrack.instance=${instance}`] }, abortSignal: abort.signal } as object)) as NodeJS.ReadableStream;
  const until = new Promise<void>((resolve) => {
    let buffered = '';
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const event = JSON.parse(buffered.slice(0, nl)) as { Action: string; id: string };
        buffered = buffered.slice(nl + 1);
        if (matches(event)) resolve();
      }
    });
    stream.on('error', () => undefined);
  });
  return { until, stop: () => abort.abort() };
}

/** `certitrack-agent run` on the same state dir, once it is listening. */
async function startDaemon(): Promise<{ daemon: ChildProcess; exit: Promise<Exit> }> {
  const daemon = spawnCli(['run', '-m', dir, '--state-dir', stateDir, '--instance', instance, '--listen', '127.0.0.1:0'], { LOG_LEVEL: 'info' });
  const exit = finished(daemon);
  let out = '';
  await new Promise<void>((resolve) =>
    daemon.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"msg":"agent listening"')) resolve();
    }),
  );
  return { daemon, exit };
}

const running = async (service: string) => (await containersOf(instance, service)).filter((c) => c.State === 'running');
const versionOf = async (id: string): Promise<string | undefined> => (await inspect(id)).Config.Env.find((e) => e.startsWith('VERSION='));

/** Starts `apply`, sends SIGINT once Docker reports the event `when` (the rollout has begun), and waits for it to end. */
async function interruptedApply(when: (e: { Action: string; id: string }) => boolean): Promise<Exit> {
  const begun = await dockerEvent(when);
  const child = spawnCli(['apply', dir, ...flags()], { LOG_LEVEL: 'info' });
  const exit = finished(child);
  try {
    await begun.until;
  } finally {
    begun.stop();
  }
  child.kill('SIGINT');
  return exit;
}

beforeAll(async () => {
  dir = await tempDir('apint');
  stateDir = await tempDir('apint-state');
  await writeManifest(dir, 'app.yaml', [stubborn('1', 'StopFirst')]);
  const first = await runCli(['apply', dir, ...flags()]);
  expect(first.code, first.stderr).toBe(0);
}, 90_000);

afterAll(async () => {
  await cleanupInstance(instance);
  for (const d of [dir, stateDir]) if (d) await removeDir(d);
});

describe('apply', () => {
  it('finishes a StopFirst replacement in flight on SIGINT, then exits 130 saying what it did', async () => {
    const [old] = await running('stubborn');
    await writeManifest(dir, 'app.yaml', [stubborn('2', 'StopFirst')]);
    // Interrupted once the old container has been told to stop: the window where, cut off, the service would have no container.
    const { code, stderr } = await interruptedApply((e) => e.Action === 'kill' && e.id === old!.Id);
    const now = await running('stubborn');
    expect(now).toHaveLength(1);
    expect(await versionOf(now[0]!.Id)).toBe('VERSION=2');
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/apply interrupted by SIGINT: let the 1 reconcile\(s\) in flight finish \(Service\/stubborn\) and started nothing new/);
    expect(stderr).toMatch(/^done: /m);
    expect(stderr).toMatch(/^still pending: /m);
    expect(existsSync(join(stateDir, LOCK_FILE))).toBe(false);
  }, 90_000);

  it('leaves the old container serving when a StartFirst rollout is interrupted, and the next apply completes it', async () => {
    const [old] = await running('stubborn');
    await writeManifest(dir, 'app.yaml', [stubborn('3', 'StartFirst')]);
    const { code, stderr } = await interruptedApply((e) => e.Action === 'start' && e.id !== old!.Id);
    expect(code, stderr).toBe(130);
    expect(stderr).toContain('apply interrupted by SIGINT');
    expect((await running('stubborn')).map((c) => c.Id)).toContain(old!.Id);
    const again = await runCli(['apply', dir, ...flags()]);
    expect(again.code, again.stderr).toBe(0);
    const now = await running('stubborn');
    expect(now).toHaveLength(1);
    expect(await versionOf(now[0]!.Id)).toBe('VERSION=3');
  }, 120_000);

  it('refuses to run beside a daemon on the same state dir, naming its PID and command', async () => {
    const { daemon, exit: daemonExit } = await startDaemon();
    const refused = await runCli(['apply', dir, ...flags()]);
    daemon.kill('SIGTERM');
    const stopped = await daemonExit;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`held by PID ${daemon.pid} (`);
    expect(refused.stderr).toMatch(/cli\.js run -m \S+ --state-dir/);
    expect(stopped.code).toBe(0);
    expect(existsSync(join(stateDir, LOCK_FILE))).toBe(false);
  }, 90_000);

  it('takes over the lock of a daemon that was killed, with a warning', async () => {
    const { daemon, exit: daemonExit } = await startDaemon();
    daemon.kill('SIGKILL');
    await daemonExit;
    expect(existsSync(join(stateDir, LOCK_FILE))).toBe(true);
    const r = await runCli(['apply', dir, ...flags()], { LOG_LEVEL: 'warn' });
    expect(r.code, r.stderr).toBe(0);
    // A warning is a log line: on stderr, beside the result on stdout.
    expect(r.stderr).toContain('took over the lock of a process that is gone');
    expect(r.stdout).toMatch(/^applied revision /);
    expect(r.stderr).toContain(`"pid":${daemon.pid}`);
  }, 90_000);
});
