import { spawn } from 'node:child_process';
import { copyFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, httpGet } from '../../test/helpers/http-probe.js';
import { createBenchAgent, tempDir } from '../lib/agent.js';
import { ComposeProject } from '../lib/compose.js';
import { docker } from '../lib/engine.js';
import type { BenchContext } from '../lib/results.js';
import { BENCH_LABEL, IMAGE } from '../lib/stack.js';
import { median, percentile } from '../lib/stats.js';

const NGINX = 'certitrack-test/nginx:latest';
/** A backend that answers with its version; exits on SIGTERM at once (the worst case for a stop). */
const BACKEND_COMMAND = 'mkdir -p /www && echo "$VERSION" > /www/index.html; trap "exit 0" TERM; httpd -f -p 8080 -h /www & wait';

/** The shipped nginx.conf's way (test/fixtures/nginx-rollout.conf): upstreams resolved at (re)load, failover between servers. */
const AGENT_NGINX_FILE = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'nginx-rollout.conf');

/**
 * What a compose user does so that nginx follows a recreated backend at all (its address changes):
 * Docker's DNS asked again every second through a variable upstream.
 */
const COMPOSE_NGINX = `pid /tmp/nginx.pid;
events {}
http {
  access_log off;
  resolver 127.0.0.11 valid=1s ipv6=off;
  proxy_next_upstream error timeout http_502 http_503;
  proxy_connect_timeout 2s;
  server {
    listen 80;
    location = /nginx-health { return 200 "ok\\n"; }
    location / { set $backend http://backend:8080; proxy_pass $backend; }
  }
}
`;

const NGINX_HEALTH = "exec 3<>/dev/tcp/127.0.0.1/80 && printf 'GET /nginx-health HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '200 OK' <&3";

function manifests(version: string, port: number, runId: string): string {
  const labels = { [BENCH_LABEL]: runId };
  const docs = [
    { apiVersion: 'certitrack.io/v1', kind: 'Network', metadata: { name: 'web' } },
    {
      apiVersion: 'certitrack.io/v1',
      kind: 'Service',
      metadata: { name: 'backend' },
      spec: { image: IMAGE, pullPolicy: 'Never', command: BACKEND_COMMAND, env: { VERSION: version }, networks: ['web'], labels, healthcheck: { http: { port: 8080, path: '/' }, interval: '500ms', timeout: '2s', retries: 3 } },
    },
    {
      apiVersion: 'certitrack.io/v1',
      kind: 'Service',
      metadata: { name: 'nginx' },
      spec: {
        image: NGINX,
        pullPolicy: 'Never',
        ports: [`127.0.0.1:${port}:80`],
        volumes: ['./nginx.conf:/etc/nginx/nginx.conf:ro'],
        networks: ['web'],
        labels,
        dependsOn: [{ service: 'backend', condition: 'healthy' }],
        reload: { exec: ['nginx', '-s', 'reload'] },
        healthcheck: { command: ['bash', '-c', NGINX_HEALTH], interval: '500ms' },
      },
    },
  ];
  return docs.map((d) => stringify(d)).join('---\n');
}

function composeFile(version: string, port: number, runId: string): string {
  const labels = { [BENCH_LABEL]: runId };
  return stringify({
    version: '2.4',
    networks: { web: {} },
    services: {
      backend: {
        image: IMAGE,
        // Compose interpolates $VAR in the file itself: $$ leaves it to the shell.
        command: ['/bin/sh', '-c', BACKEND_COMMAND.replaceAll('$', () => '$$')],
        environment: { VERSION: version },
        networks: ['web'],
        labels,
        healthcheck: { test: ['CMD-SHELL', "wget -q -O /dev/null 'http://127.0.0.1:8080/'"], interval: '500ms', timeout: '2s', retries: 3 },
      },
      nginx: {
        image: NGINX,
        ports: [`127.0.0.1:${port}:80`],
        volumes: ['./nginx.conf:/etc/nginx/nginx.conf:ro'],
        networks: ['web'],
        labels,
        depends_on: { backend: { condition: 'service_healthy' } },
      },
    },
  });
}

interface Sample {
  t: number;
  ms: number;
  status: number;
  body: string;
}

/** The load client as a child process, collecting its samples. */
function startLoad(port: number, say: (m: string) => void): { samples: Sample[]; stop: () => Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'lib', 'load-client.ts'), String(port), '10'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const samples: Sample[] = [];
  let rest = '';
  child.stdout.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) if (l) samples.push(JSON.parse(l) as Sample);
  });
  let stopping = false;
  const closed = new Promise<void>((resolve) => child.on('close', (code, signal) => {
    if (!stopping) say(`  the load client ended by itself (exit ${code ?? signal}); the measurement is void`);
    resolve();
  }));
  return {
    samples,
    stop: async () => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await closed;
    },
  };
}

const until = async (what: string, fn: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

interface ToolResult {
  failed: number;
  /** What the first few failures were (HTTP status or the client's error, and when in which deploy). */
  failures: string[];
  deploys: number;
  longestGapMs: number;
  p99DeployMs: number | undefined;
  p99IdleMs: number | undefined;
  saveToServingMs: number[];
}

/** Summary of one tool's samples: idle window, then each deploy window. */
function summarise(samples: Sample[], idle: [number, number], windows: [number, number][], saveToServingMs: number[]): ToolResult {
  const inWindow = (s: Sample, [a, b]: [number, number]): boolean => s.t >= a && s.t <= b;
  const during = samples.filter((s) => windows.some((w) => inWindow(s, w)));
  const idleSamples = samples.filter((s) => inWindow(s, idle));
  let longestGapMs = 0;
  for (const w of windows) {
    const ok = samples.filter((s) => inWindow(s, w) && s.status === 200).map((s) => s.t + s.ms);
    for (let i = 1; i < ok.length; i++) longestGapMs = Math.max(longestGapMs, (ok[i] as number) - (ok[i - 1] as number));
  }
  return {
    failed: during.filter((s) => s.status !== 200).length,
    failures: during
      .filter((s) => s.status !== 200)
      .slice(0, 5)
      .map((s) => {
        const w = windows.findIndex((x) => inWindow(s, x));
        return `deploy ${w + 1} +${Math.round(s.t - (windows[w]?.[0] ?? s.t))} ms: ${s.status === 0 ? s.body : `HTTP ${s.status} ${s.body}`} after ${Math.round(s.ms)} ms`;
      }),
    deploys: windows.length,
    longestGapMs,
    p99DeployMs: percentile(during.filter((s) => s.status === 200).map((s) => s.ms), 99),
    p99IdleMs: percentile(idleSamples.filter((s) => s.status === 200).map((s) => s.ms), 99),
    saveToServingMs,
  };
}

/**
 * Deploy under load: the example's front (nginx) and a backend behind it, a request every 10 ms
 * from another process, and N deploys of the backend (a new VERSION), by the agent (watching its
 * folder; StartFirst behind nginx) and by docker-compose 1.29 (`up -d` after the edit), one tool at
 * a time on its own stack and port. Failed requests, the longest gap between answers, p99 latency
 * during deploys against idle, and the time from save to the new version answering.
 */
export async function deployUnderLoad(ctx: BenchContext): Promise<void> {
  const deploys = ctx.opts.quick ? 3 : 20;
  const agentPort = await freePort();
  const dir = await tempDir('deploy');
  await copyFile(AGENT_NGINX_FILE, join(dir, 'nginx.conf'));
  await writeFile(join(dir, 'stack.yaml'), manifests('v0', agentPort, ctx.runId));
  const instance = ctx.cleanup.instance(`bench-${ctx.runId}-deploy`);
  const results: Record<'agent' | 'compose', ToolResult | undefined> = { agent: undefined, compose: undefined };
  const serving = async (port: number): Promise<string | undefined> => {
    const r = await httpGet(port, '/', 2000).catch(() => undefined);
    return r?.status === 200 ? r.body : undefined;
  };

  /** The same measurement for either tool: idle window, then deploys until each has fully settled. */
  const measure = async (port: number, deploy: (version: string) => Promise<void>, settled: () => Promise<boolean>): Promise<ToolResult> => {
    await until('v0 served', async () => (await serving(port)) === 'v0', 120_000);
    ctx.say('  v0 serving; measuring idle latency');
    const load = startLoad(port, ctx.say);
    try {
      const idleStart = Date.now();
      await new Promise((r) => setTimeout(r, ctx.opts.quick ? 2000 : 5000));
      const idle: [number, number] = [idleStart, Date.now()];
      const windows: [number, number][] = [];
      const saveToServing: number[] = [];
      for (let i = 1; i <= deploys; i++) {
        const version = `v${i}`;
        const t0 = Date.now();
        await deploy(version);
        await until(`${version} serving`, () => load.samples.some((s) => s.t >= t0 && s.body === version), 120_000);
        saveToServing.push((load.samples.find((s) => s.t >= t0 && s.body === version) as Sample).t - t0);
        await until(`${version} settled`, settled, 120_000);
        windows.push([t0, Date.now()]);
        ctx.say(`  ${i}/${deploys} deploys (${version} served after ${saveToServing[saveToServing.length - 1]} ms)`);
      }
      await load.stop();
      return summarise(load.samples, idle, windows, saveToServing);
    } finally {
      await load.stop();
    }
  };

  ctx.say(`deploy under load: agent, ${deploys} deploys of the backend behind nginx`);
  const b = await createBenchAgent(dir, instance);
  try {
    await b.agent.run();
    const backendOf = () => docker.listContainers({ all: true, filters: { label: [`io.certitrack.instance=${instance}`, 'io.certitrack.service=backend'] } });
    results.agent = await measure(
      agentPort,
      (version) => writeFile(join(dir, 'stack.yaml'), manifests(version, agentPort, ctx.runId)),
      async () => {
        const settled = (await backendOf()).length === 1 && b.agent.parts.controller.isApplied();
        if (process.env.BENCH_DEBUG) ctx.say(`  settled? containers=${(await backendOf()).length} applied=${b.agent.parts.controller.isApplied()} pending=${b.agent.parts.controller.pendingKeys().join(',')}`);
        return settled;
      },
    );
  } finally {
    await b.agent.stop();
    await ctx.cleanup.instanceGone(instance);
    await rm(dir, { recursive: true, force: true });
  }

  if (ctx.compose.available) {
    ctx.say(`deploy under load: docker-compose, ${deploys} deploys`);
    const composePort = await freePort();
    const composeDir = await tempDir('deploy-compose');
    await writeFile(join(composeDir, 'nginx.conf'), COMPOSE_NGINX);
    const project = new ComposeProject(ctx.cleanup.project(`bench${ctx.runId}deploy`), composeDir);
    try {
      await project.write(composeFile('v0', composePort, ctx.runId));
      await project.up();
      results.compose = await measure(
        composePort,
        async (version) => {
          await project.write(composeFile(version, composePort, ctx.runId));
          await project.up();
        },
        async () => true,
      );
    } finally {
      await ctx.cleanup.projectGone(project.name);
      await rm(composeDir, { recursive: true, force: true });
    }
  }

  const a = results.agent as ToolResult;
  const c = results.compose;
  const title = `deploy under load (${deploys} deploys, a request every 10 ms)`;
  const peerName = 'docker-compose up -d';
  ctx.rows.push(
    { benchmark: title, metric: 'failed requests', unit: 'count', agent: a.failed, peer: c?.failed, peerName, note: `goal: 0 for the agent${a.failures.length > 0 ? `; agent's: ${a.failures.join('; ')}` : ''}` },
    { benchmark: title, metric: 'longest gap between answers', unit: 'ms', agent: a.longestGapMs, peer: c?.longestGapMs, peerName },
    { benchmark: title, metric: 'p99 latency during deploys', unit: 'ms', agent: a.p99DeployMs, peer: c?.p99DeployMs, peerName, note: `idle p99: agent ${a.p99IdleMs?.toFixed(1) ?? '?'} ms, compose ${c?.p99IdleMs?.toFixed(1) ?? '-'} ms; goal: at most 2x idle` },
    { benchmark: title, metric: 'save -> new version serving, median', unit: 'ms', agent: median(a.saveToServingMs), peer: c ? median(c.saveToServingMs) : undefined, peerName, samples: { agent: a.saveToServingMs, ...(c ? { peer: c.saveToServingMs } : {}) } },
  );
}
