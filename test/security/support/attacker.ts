import { spawn } from 'node:child_process';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command as the unprivileged user `nobody` (uid/gid 65534, no supplementary groups), the
 * way any local user or a compromised service on the host would try the agent.
 */
export function asNobody(cmd: string, args: string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** curl as nobody; `-w` appends the status code on its own last line. */
export async function curlAsNobody(args: string[]): Promise<{ status: number; body: string; run: Run }> {
  const run = await asNobody('curl', ['-s', '-S', '--max-time', '10', '-w', '\n%{http_code}', ...args]);
  const lines = run.stdout.split('\n');
  const status = Number(lines.pop());
  return { status, body: lines.join('\n'), run };
}
