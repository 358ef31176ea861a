import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

/** The CLI users run: the launcher and the bundle test/global-setup.ts builds before the tests. */
export const CLI = join(ROOT, 'dist', 'cli.js');

/** Runs the built CLI as its own process, as a user or a script would. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, opts: { stdin?: 'ignore' | 'pipe' } = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end; `input`, when given, is its stdin (then closed). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, killAfterMs?: number, input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawnCli(args, env, { stdin: input === undefined ? 'ignore' : 'pipe' });
    if (input !== undefined) child.stdin?.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A CLI process that keeps running (`logs -f`, `status -w`): its output so far, waiting for a line, stopping it. */
export interface RunningCli {
  readonly child: ChildProcess;
  stdout(): string;
  /** Resolves once stdout matches; rejects with what was printed if it has not within `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends `signal` and resolves with the exit code and output. */
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): RunningCli {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return {
    child,
    stdout: () => stdout,
    waitFor: async (pattern, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(stdout)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${pattern} in the output of ${args.join(' ')}:\n${stdout}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stop: (signal = 'SIGINT') => {
      child.kill(signal);
      return closed;
    },
  };
}
