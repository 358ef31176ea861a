import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Debian's docker-compose 1.29 (the Python one): the peer most single-host deployments use. */
export interface ComposeCheck {
  available: boolean;
  version?: string;
  hint?: string;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolve({ code: 127, stdout, stderr: err.message }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export async function checkCompose(): Promise<ComposeCheck> {
  const r = await run('docker-compose', ['version', '--short']);
  if (r.code === 0) return { available: true, version: r.stdout.trim() };
  return {
    available: false,
    hint: 'docker-compose is not installed; the bench installs nothing itself. Install Debian\'s 1.29 with:\n  apt-get install -y docker-compose\nand run the bench again. Compose rows are skipped.',
  };
}

/** docker-compose made no progress (printed nothing) for the stall window and was stopped. */
export class ComposeStalled extends Error {}

/** A compose project in its own folder: the file is written before any timing starts. */
export class ComposeProject {
  readonly file: string;

  constructor(
    readonly name: string,
    dir: string,
  ) {
    this.file = join(dir, 'docker-compose.yml');
  }

  async write(yaml: string): Promise<void> {
    await writeFile(this.file, yaml);
  }

  /**
   * `docker-compose up -d [services]`. `dockerHost` routes it through a counting proxy. Compose
   * 1.x can deadlock in its thread pool with a hundred services or more (docker/compose#7486,
   * #8161): when it prints nothing for `stallMs` it is killed and ComposeStalled is thrown.
   */
  up(opts: { services?: string[]; dockerHost?: string; stallMs?: number } = {}): Promise<void> {
    const stallMs = opts.stallMs ?? 120_000;
    return new Promise((resolve, reject) => {
      const child = spawn('docker-compose', ['-p', this.name, '-f', this.file, '--ansi', 'never', 'up', '-d', ...(opts.services ?? [])], {
        env: { ...process.env, COMPOSE_HTTP_TIMEOUT: '300', ...(opts.dockerHost ? { DOCKER_HOST: opts.dockerHost } : {}) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      running.add(child);
      let output = '';
      let stalled = false;
      let timer = setTimeout(() => undefined, 0);
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          stalled = true;
          child.kill('SIGKILL');
        }, stallMs);
      };
      arm();
      const onData = (d: Buffer): void => {
        output = (output + d.toString()).slice(-4000);
        arm();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', (err) => reject(err));
      child.on('close', (code) => {
        clearTimeout(timer);
        running.delete(child);
        if (stalled) reject(new ComposeStalled(`docker-compose up printed nothing for ${stallMs / 1000} s and was stopped`));
        else if (code !== 0) reject(new Error(`docker-compose up failed (exit ${code}): ${output.trim().split('\n').slice(-5).join('\n')}`));
        else resolve();
      });
    });
  }

  get label(): string {
    return `com.docker.compose.project=${this.name}`;
  }
}

const running = new Set<ChildProcess>();

/** Stops any docker-compose still running (Ctrl-C of the bench). */
export function killComposeChildren(): void {
  for (const child of running) child.kill('SIGKILL');
}
