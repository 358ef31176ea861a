import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Dockerode from 'dockerode';
import pino from 'pino';
import { dockerClients } from '../../src/adapters/docker/index.js';
import type { Agent } from '../../src/agent.js';
import { configFrom, type AgentConfig } from '../../src/config.js';
import { buildAgent } from '../../src/main.js';
import { CallCounter, countHttpRequests, countingClients } from './counting.js';

/** Warnings and errors of the agent, kept to explain a failed benchmark instead of cluttering the table. */
export class TailLog {
  readonly lines: string[] = [];
  readonly logger = pino(
    { level: 'warn' },
    new Writable({
      write: (chunk: Buffer, _e, cb) => {
        this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        if (this.lines.length > 50) this.lines.splice(0, this.lines.length - 50);
        cb();
      },
    }),
  );
}

export interface BenchAgent {
  agent: Agent;
  /** DockerClients method calls (the counting proxy). */
  calls: CallCounter;
  /** HTTP requests those calls made to the engine. */
  requests: CallCounter;
  config: AgentConfig;
  log: TailLog;
}

let root: Promise<string> | undefined;

/** A fresh folder under this run's one temporary root, removed as a whole by `removeTempDirs`. */
export async function tempDir(prefix: string): Promise<string> {
  root ??= mkdtemp(join(tmpdir(), 'certitrack-bench-'));
  return mkdtemp(join(await root, `${prefix}-`));
}

export async function removeTempDirs(): Promise<void> {
  if (root) await rm(await root, { recursive: true, force: true });
}

/**
 * The agent as `buildAgent` builds it for the CLI, in this process, with its Docker adapter wrapped
 * in the counting proxy. Defaults as shipped (5 min resync, 10 s first crash-loop step).
 */
export async function createBenchAgent(manifestsDir: string, instance: string, overrides: Partial<AgentConfig> = {}): Promise<BenchAgent> {
  const config: AgentConfig = {
    ...configFrom({ manifestsDir, stateDir: overrides.stateDir ?? (await tempDir('state')), instance, listen: '127.0.0.1:0', logLevel: 'warn' }),
    ...overrides,
  };
  const calls = new CallCounter();
  const requests = new CallCounter();
  const client = new Dockerode({ socketPath: config.dockerSocket });
  countHttpRequests(client, requests);
  const log = new TailLog();
  const agent = await buildAgent(config, { log: log.logger, docker: countingClients(dockerClients(client), calls) });
  return { agent, calls, requests, config, log };
}
