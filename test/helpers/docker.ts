import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Dockerode from 'dockerode';
import pino, { type Logger } from 'pino';
import { dockerClients } from '../../src/adapters/docker/index.js';
import type { Agent } from '../../src/agent.js';
import { configFrom, type AgentConfig } from '../../src/config.js';
import { buildAgent } from '../../src/main.js';

export const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });
export const adapter = dockerClients(docker);
export const BUSYBOX = 'certitrack-test/busybox:latest';

/** A unique instance name per test file, so tests never see each other's containers. */
export function testInstance(prefix: string): string {
  return `t-${prefix}-${Math.random().toString(36).slice(2, 7)}`;
}

/** Removes every container, network and volume of a test instance (tests clean up after themselves). */
export async function cleanupInstance(instance: string): Promise<void> {
  const label = `io.certitrack.instance=${instance}`;
  const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  const networks = await docker.listNetworks({ filters: { label: [label] } });
  await Promise.all(networks.map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)));
  const volumes = await docker.listVolumes({ filters: { label: [label] } });
  await Promise.all((volumes.Volumes ?? []).map((v) => docker.getVolume(v.Name).remove().catch(() => undefined)));
}

export async function containersOf(instance: string, service?: string): Promise<Dockerode.ContainerInfo[]> {
  const labels = [`io.certitrack.instance=${instance}`];
  if (service) labels.push(`io.certitrack.service=${service}`);
  return docker.listContainers({ all: true, filters: { label: labels } });
}

export async function inspect(name: string): Promise<Dockerode.ContainerInspectInfo> {
  return docker.getContainer(name).inspect();
}

/** Log lines captured in memory, to assert on errors and on what never appears (secrets). */
export class LogCapture {
  readonly lines: string[] = [];
  readonly logger: Logger;
  constructor(level = 'debug') {
    const sink = new Writable({
      write: (chunk: Buffer, _e, cb) => {
        this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        cb();
      },
    });
    this.logger = pino({ level }, sink);
  }
  text(): string {
    return this.lines.join('\n');
  }
}

export interface TestAgent {
  agent: Agent;
  logs: LogCapture;
  config: AgentConfig;
  stateDir: string;
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `certitrack-${prefix}-`));
}

/** An agent on the real engine with its own state dir, a fast restart backoff and captured logs. */
export async function startTestAgent(manifestsDir: string, instance: string, overrides: Partial<AgentConfig> = {}): Promise<TestAgent> {
  const stateDir = overrides.stateDir ?? (await tempDir('state'));
  const config: AgentConfig = {
    ...configFrom({ manifestsDir, stateDir, instance, listen: '127.0.0.1:0' }),
    restartBackoffBaseMs: 1000,
    restartBackoffMaxMs: 8000,
    resyncMs: 60_000,
    ...overrides,
  };
  const logs = new LogCapture();
  const agent = await buildAgent(config, { log: logs.logger, docker: adapter });
  return { agent, logs, config, stateDir };
}

/** A volume made outside the agent (as compose or `docker volume create` would), with data written by `script` under /data. */
export async function createVolumeWithData(name: string, script: string): Promise<void> {
  await docker.createVolume({ Name: name });
  const seed = await docker.createContainer({ Image: BUSYBOX, Cmd: ['sh', '-c', script], HostConfig: { Mounts: [{ Type: 'volume', Source: name, Target: '/data' }] } });
  try {
    await seed.start();
    await seed.wait();
  } finally {
    await seed.remove({ force: true });
  }
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Polls until `fn` returns a truthy value or the timeout passes (then throws with `what`). */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A request to the agent's TCP listener with its API token (what /status and /v1/* need), as root's tools would send it. */
export async function apiFetch(agent: Agent, path: string, init: RequestInit = {}): Promise<Response> {
  const token = (await readFile(join(agent.parts.config.stateDir, 'api.token'), 'utf8')).trim();
  return fetch(`http://127.0.0.1:${agent.address!.port}${path}`, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${token}` } });
}
