import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Handler } from './http-server.js';
import { OnePerKey, replyJson, streamNdjson, wantsNdjson } from './ndjson.js';

/** Something a person can ask a running agent to do now: run a schedule or a backup, renew a certificate. */
export type Trigger = (name: string, onProgress?: (progress: unknown) => void) => Promise<unknown>;

export const TRIGGER_PREFIX = '/v1/trigger/';
/** What a refused trigger suggests waiting; the run in flight may take longer, the client just asks again. */
export const RETRY_AFTER_SECONDS = 10;

export interface TriggerOptions {
  /** Every string of every answer passes through this (job output tails, errors). */
  scrub: (text: string) => string;
  /** A trigger refused because one for the same resource is still running (429). */
  onRateLimited?: (req: IncomingMessage) => void;
  /** Why the resource may not be triggered now (it is suspended), or undefined. */
  refuse?: (key: string) => string | undefined;
}

/**
 * `POST /v1/trigger/<Kind>/<name>` runs the kind's trigger inside the running agent, so the job
 * shares the agent's concurrency policy and run history (a separate CLI process could not see
 * runs already in flight). With `Accept: application/x-ndjson` the answer streams progress lines
 * `{"progress":…}` and ends with `{"result":…}` or `{"error":…}` (long work such as a backup);
 * otherwise it is one JSON document when the work is done. One trigger per resource is in flight
 * at a time: another gets 429 with Retry-After, so nobody can queue twenty backups in a row.
 */
export function createTriggerHandler(triggers: ReadonlyMap<string, Trigger>, opts: TriggerOptions): Handler {
  const oneAtATime = new OnePerKey();
  return async (req: IncomingMessage, res: ServerResponse) => {
    const m = /^\/v1\/trigger\/([A-Za-z]+)\/([a-z0-9][-a-z0-9_]*)$/.exec((req.url ?? '').split('?')[0] ?? '');
    const reply = (code: number, body: unknown, headers: Record<string, string> = {}): true => replyJson(res, code, body, opts.scrub, headers);
    if (!m) return reply(404, { error: 'expected /v1/trigger/<Kind>/<name>' });
    if (req.method !== 'POST') return reply(405, { error: 'use POST' }, { allow: 'POST' });
    const trigger = triggers.get(m[1] as string);
    if (!trigger) return reply(404, { error: `nothing to trigger for kind ${m[1]}; known: ${[...triggers.keys()].join(', ')}` });
    const name = m[2] as string;
    const key = `${m[1]}/${name}`;
    const refusal = opts.refuse?.(key);
    if (refusal) return reply(409, { error: refusal });
    return oneAtATime.run(
      key,
      () => {
        opts.onRateLimited?.(req);
        return reply(429, { error: `${key} is already running from an earlier request; try again when it has finished` }, { 'retry-after': String(RETRY_AFTER_SECONDS) });
      },
      async () => {
        if (wantsNdjson(req)) return streamNdjson(res, (progress) => trigger(name, progress), opts.scrub);
        try {
          return reply(200, await trigger(name));
        } catch (err) {
          return reply(409, { error: (err as Error).message });
        }
      },
    );
  };
}
