import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Handler } from './http-server.js';

/** Something a person can ask a running agent to do now: run a schedule or a backup, renew a certificate. */
export type Trigger = (name: string, onProgress?: (progress: unknown) => void) => Promise<unknown>;

export const NDJSON = 'application/x-ndjson';

/**
 * `POST /v1/trigger/<Kind>/<name>` runs the kind's trigger inside the running agent, so the job
 * shares the agent's concurrency policy and run history (a separate CLI process could not see
 * runs already in flight). With `Accept: application/x-ndjson` the answer streams progress lines
 * `{"progress":…}` and ends with `{"result":…}` or `{"error":…}` (long work such as a backup);
 * otherwise it is one JSON document when the work is done. Only reachable where the HTTP listener
 * is (loopback by default).
 */
export function createTriggerHandler(triggers: ReadonlyMap<string, Trigger>): Handler {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const m = /^\/v1\/trigger\/([A-Za-z]+)\/([a-z0-9][-a-z0-9_]*)$/.exec((req.url ?? '').split('?')[0] ?? '');
    if (!m) return false;
    const reply = (code: number, body: unknown): true => {
      res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body) + '\n');
      return true;
    };
    if (req.method !== 'POST') return reply(405, { error: 'use POST' });
    const trigger = triggers.get(m[1] as string);
    if (!trigger) return reply(404, { error: `nothing to trigger for kind ${m[1]}; known: ${[...triggers.keys()].join(', ')}` });
    const name = m[2] as string;
    if (!(req.headers.accept ?? '').includes(NDJSON)) {
      try {
        return reply(200, await trigger(name));
      } catch (err) {
        return reply(409, { error: (err as Error).message });
      }
    }
    res.writeHead(200, { 'content-type': NDJSON, 'cache-control': 'no-store' });
    const line = (o: unknown): void => void res.write(JSON.stringify(o) + '\n');
    try {
      line({ result: await trigger(name, (progress) => line({ progress })) });
    } catch (err) {
      line({ error: (err as Error).message });
    }
    res.end();
    return true;
  };
}
