import type { Logger } from 'pino';
import type { DockerClients } from '../adapters/docker/index.js';
import type { AgentEvent } from './reconcile.js';
import type { Ownership } from '../reconcilers/ownership.js';
import { exponentialBackoffMs } from '../util/exponential-backoff.js';

/** Container events that can change what a Service reconcile decides. */
const ACTIONS = ['start', 'die', 'stop', 'kill', 'destroy', 'oom', 'health_status', 'pause', 'unpause'];

/** Reconnect after 0.5 s, doubling to 15 s: a restarting dockerd is back within seconds. */
const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 15_000;

export interface DockerEventsOptions {
  docker: Pick<DockerClients, 'events'>;
  own: Ownership;
  log: Logger;
  /** A container of this agent changed; the reconcilers' watches say which keys that concerns. */
  onEvent: (event: AgentEvent) => void;
  /** The stream was (re)established: events may have been missed, so resync. */
  onReconnect: () => void;
}

/**
 * Follows the engine's event stream for this agent's containers, reconnecting with backoff when it
 * drops (dockerd restarted, socket gone). Self-healing is driven by these events, not by polling.
 */
export class DockerEvents {
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  connected = false;

  constructor(private readonly o: DockerEventsOptions) {}

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    let first = true;
    while (!this.abort.signal.aborted) {
      try {
        await this.o.docker.events.stream(
          { type: ['container'], label: Object.entries(this.o.own.selector()).map(([k, v]) => `${k}=${v}`), event: ACTIONS },
          (e) => this.o.onEvent({ type: 'container', action: e.action, labels: e.labels }),
          this.abort.signal,
          () => {
            this.connected = true;
            if (!first) this.o.log.info('docker event stream reconnected; resyncing');
            // Missed events are harmless only if we look at everything again after (re)connecting.
            this.o.onReconnect();
            first = false;
            failures = 0;
          },
        );
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message }, 'docker event stream failed');
      }
      this.connected = false;
      if (this.abort.signal.aborted) break;
      const delay = exponentialBackoffMs(++failures, RECONNECT_BASE_MS, RECONNECT_MAX_MS);
      this.o.log.warn({ retryInMs: delay }, 'docker event stream ended; reconnecting');
      await sleep(delay, this.abort.signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
