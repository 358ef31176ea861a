import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { eventually } from './docker.js';
import { freePort } from './pebble.js';

/** Debian's `prometheus` package in tests: promtool, and a real server on a free loopback port. */

/** Runs promtool; resolves with its output whatever the exit code, so a failure shows what it said. */
export async function promtool(args: string[], stdin?: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile('promtool', args, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') return reject(new Error(`promtool cannot run (Debian: apt-get install -y prometheus): ${err.message}`));
      resolve({ code: err ? Number((err as { code: number }).code) : 0, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(stdin ?? '');
  });
}

export interface PrometheusServer {
  readonly url: string;
  /** An instant query; rejects on anything but status "success" (a PromQL error names the problem). */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  api<T>(path: string): Promise<T>;
  logs(): string;
  stop(): Promise<void>;
}

/** Starts `prometheus` with `config` (a prometheus.yml as an object) and an empty TSDB of its own. */
export async function startPrometheus(config: Record<string, unknown>): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(configFile, stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(
    'prometheus',
    [`--config.file=${configFile}`, `--web.listen-address=127.0.0.1:${port}`, `--storage.tsdb.path=${join(dir, 'data')}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.on('error', (err) => (output += `cannot start prometheus (Debian: apt-get install -y prometheus): ${err.message}\n`));
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  // If the test process dies without its afterAll, take the server with it.
  const kill = (): void => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  process.once('exit', kill);

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  const stop = async (): Promise<void> => {
    process.off('exit', kill);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await eventually('prometheus ready', async () => child.exitCode === null && (await fetch(`${url}/-/ready`)).ok, 30_000, 100);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output}`);
  }
  return {
    url,
    api,
    query: (expr) => api(`/api/v1/query?query=${encodeURIComponent(expr)}`).then((d) => (d as { result: { metric: Record<string, string>; value: [number, string] }[] }).result),
    logs: () => output,
    stop,
  };
}

/** Sample names in a text exposition (`certitrack_x_bucket`, not just the family `certitrack_x`). */
export function exposedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (m?.[1]) names.add(m[1]);
  }
  return names;
}

const NOT_METRICS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression reads: identifiers that are not functions, keywords, label
 * names (in matchers and grouping lists) or parts of numbers and strings. Enough for the shipped
 * rules and dashboard; the test also has Prometheus evaluate each expression.
 */
export function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const isCall = /^\s*\(/.test(bare.slice((m.index ?? 0) + m[0].length));
    if (!isCall && !NOT_METRICS.has(m[0].toLowerCase())) names.add(m[0]);
  }
  return [...names];
}
