import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Handler } from './http-server.js';
import { replyJson } from './ndjson.js';

export const RESOURCES_PREFIX = '/v1/resources/';

/** What an operator may ask of one resource; each answers a JSON document or throws with a status. */
export interface OperatorVerbs {
  suspend(kind: string, name: string): unknown;
  resume(kind: string, name: string): unknown;
  restart(name: string): unknown;
}

/**
 * `POST /v1/resources/<Kind>/<name>/suspend|resume|restart` (restart: Services only): the agent's
 * own methods, thin. An error carrying `status` (404 not declared, 409 not now) answers with it.
 */
export function createOperatorRoutes(verbs: OperatorVerbs, opts: { scrub: (text: string) => string }): Handler {
  return (req: IncomingMessage, res: ServerResponse) => {
    const reply = (code: number, body: unknown): true => replyJson(res, code, body, opts.scrub);
    const m = /^\/v1\/resources\/([A-Za-z]+)\/([a-z0-9][-a-z0-9_]*)\/(suspend|resume|restart)$/.exec((req.url ?? '').split('?')[0] ?? '');
    if (!m) return reply(404, { error: 'expected /v1/resources/<Kind>/<name>/suspend|resume|restart' });
    if (req.method !== 'POST') return reply(405, { error: 'use POST' });
    const [, kind = '', name = '', verb] = m;
    try {
      if (verb === 'restart') {
        if (kind !== 'Service') return reply(409, { error: `only a Service can be restarted, not a ${kind}` });
        return reply(200, verbs.restart(name));
      }
      return reply(200, verb === 'suspend' ? verbs.suspend(kind, name) : verbs.resume(kind, name));
    } catch (err) {
      const status = (err as { status?: unknown }).status;
      return reply(status === 404 || status === 409 ? status : 409, { error: (err as Error).message });
    }
  };
}
