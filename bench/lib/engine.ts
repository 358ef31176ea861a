import Dockerode from 'dockerode';
import { LineSplitter } from '../../src/util/line-splitter.js';

/** The bench's own Docker client: what it uses to observe, never counted as the agent's. */
export const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Running, and healthy when the container has a healthcheck: the same bar as the agent's Ready. */
function ready(c: Dockerode.ContainerInfo): boolean {
  return c.State === 'running' && !/\((health: starting|unhealthy)\)/.test(c.Status);
}

/**
 * Polls (every 50 ms, one list call) until `expected` containers carrying every label are ready.
 * Used for docker-compose, which has no "wait until healthy" of its own in 1.29.
 */
export async function waitAllReady(labels: string[], expected: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await docker.listContainers({ all: true, filters: { label: labels } });
    if (list.length === expected && list.every(ready)) return;
    if (Date.now() > deadline) {
      const notReady = list.filter((c) => !ready(c)).map((c) => `${c.Names[0]} ${c.Status}`);
      throw new Error(`timed out: ${list.length}/${expected} containers, not ready: ${notReady.slice(0, 5).join(', ')}`);
    }
    await sleep(50);
  }
}

export interface EngineEvent {
  action: string;
  id: string;
  name: string;
  labels: Record<string, string>;
  /** The engine's own clock, in milliseconds with sub-millisecond precision. */
  atMs: number;
}

/**
 * Records the engine's container events for everything the run labelled, so that recovery times
 * are taken from the engine's own timestamps (die -> start), the same way for the agent and Docker.
 */
export class EventRecorder {
  readonly events: EngineEvent[] = [];
  private readonly abort = new AbortController();
  private waiters: (() => void)[] = [];

  async start(labelFilter: string): Promise<void> {
    const stream = (await docker.getEvents({ filters: { type: ['container'], label: [labelFilter] }, abortSignal: this.abort.signal } as Dockerode.GetEventsOptions)) as NodeJS.ReadableStream;
    const lines = new LineSplitter((line) => {
      const raw = JSON.parse(line) as { Action?: string; Actor?: { ID?: string; Attributes?: Record<string, string> }; timeNano?: number };
      const attrs = raw.Actor?.Attributes ?? {};
      this.events.push({ action: raw.Action ?? '', id: raw.Actor?.ID ?? '', name: attrs.name ?? '', labels: attrs, atMs: (raw.timeNano ?? 0) / 1e6 });
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    });
    stream.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
    stream.on('error', () => undefined);
  }

  stop(): void {
    this.abort.abort();
  }

  /** The first event after `afterMs` (engine clock) matching `pred`, or undefined after `timeoutMs`. */
  async next(pred: (e: EngineEvent) => boolean, afterMs: number, timeoutMs: number): Promise<EngineEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find((e) => e.atMs > afterMs && pred(e));
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** Runs a command inside a container and waits for it (the crash and sickness triggers). */
export async function execIn(container: string, cmd: string[]): Promise<void> {
  const exec = await docker.getContainer(container).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  await new Promise<void>((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
    stream.resume();
  });
}
