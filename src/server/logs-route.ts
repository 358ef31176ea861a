import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ContainerClient, LogLine, SessionClient } from '../adapters/docker/index.js';
import type { Ownership } from '../reconcilers/ownership.js';
import type { Handler } from './http-server.js';
import { NDJSON, replyJson } from './ndjson.js';
import { scrubbedJson } from '../log.js';
import { SERVICE_NAME, serviceContainers } from './service-containers.js';
import { sleepUnlessAborted } from '../util/sleep.js';

export const LOGS_PREFIX = '/v1/logs/';
/** While following, how often to look for a new container of the service (a rollout's, a heal's). */
const DISCOVER_MS = 1000;

/** One line of `GET /v1/logs/<service>`. */
export interface LogRecord extends LogLine {
  container: string;
}

export interface LogsRouteDeps {
  containers: Pick<ContainerClient, 'list' | 'inspect'>;
  sessions: Pick<SessionClient, 'logs'>;
  own: Ownership;
  /** Whether the current snapshot declares the service (a declared one may have no container yet). */
  declared: (service: string) => boolean;
  scrub: (text: string) => string;
}

/**
 * `GET /v1/logs/<service>?follow=1&tail=N&since=ISO`: the service's container logs as NDJSON
 * (`{"container","stream","time","text"}`), every string scrubbed of secrets. Every container of
 * the service is included, so the new container of a rollout in progress is too; with `follow`
 * the agent keeps looking for new ones (a restart, a heal, the next rollout) and follows a
 * container again when it is started again, from where it left off, until the client goes.
 */
export function createLogsRoute(deps: LogsRouteDeps): Handler {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    const service = decodeURIComponent(url.pathname.slice(LOGS_PREFIX.length));
    const reply = (code: number, body: unknown): true => replyJson(res, code, body, deps.scrub);
    if (req.method !== 'GET') return reply(405, { error: 'use GET' });
    if (!SERVICE_NAME.test(service)) return reply(404, { error: 'expected /v1/logs/<service>' });
    const tail = url.searchParams.get('tail');
    const since = url.searchParams.get('since');
    const opts = {
      follow: url.searchParams.get('follow') === '1',
      ...(tail !== null && /^\d+$/.test(tail) ? { tail: Number(tail) } : {}),
      ...(since !== null && !Number.isNaN(Date.parse(since)) ? { since: new Date(since) } : {}),
    };
    const first = await serviceContainers(deps.containers, deps.own, service);
    if (first.length === 0 && !deps.declared(service)) return reply(404, { error: `Service/${service} is not declared and has no container` });

    res.writeHead(200, { 'content-type': NDJSON, 'cache-control': 'no-store' });
    const stop = new AbortController();
    res.on('close', () => stop.abort());
    const write = (container: string) => (line: LogLine): void => void res.write(scrubbedJson({ container, ...line } satisfies LogRecord, deps.scrub) + '\n');
    if (!opts.follow) {
      for (const c of first) await deps.sessions.logs(c.id, { ...opts, signal: stop.signal }, write(c.name)).catch(() => undefined);
      res.end();
      return true;
    }
    await followService(deps, service, opts, write, stop.signal);
    res.end();
    return true;
  };
}

/** Follows every container of the service, old and new, until `signal` aborts. */
async function followService(
  deps: LogsRouteDeps,
  service: string,
  opts: { tail?: number; since?: Date },
  write: (container: string) => (line: LogLine) => void,
  signal: AbortSignal,
): Promise<void> {
  // Per container: whether a follow is open, and the time of the last line, to pick up after a restart.
  const seen = new Map<string, { open: boolean; last?: string }>();
  let firstRound = true;
  while (!signal.aborted) {
    for (const c of await serviceContainers(deps.containers, deps.own, service).catch(() => [])) {
      const known = seen.get(c.id);
      if (known?.open || (known && c.state !== 'running')) continue;
      const entry = known ?? { open: false };
      seen.set(c.id, entry);
      entry.open = true;
      // A container found later is new (all its lines are); one followed before resumes after its last line.
      const from = entry.last ? { since: new Date(entry.last) } : firstRound ? opts : {};
      const emit = write(c.name);
      void deps.sessions
        .logs(c.id, { ...from, follow: true, signal }, (line) => {
          if (entry.last && line.time <= entry.last) return;
          entry.last = line.time;
          emit(line);
        })
        .catch(() => undefined)
        .finally(() => (entry.open = false));
    }
    firstRound = false;
    await sleepUnlessAborted(DISCOVER_MS, signal);
  }
}
