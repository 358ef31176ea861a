import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BackupCatalog } from '../backup/backup-catalog.js';
import type { Handler } from './http-server.js';
import { OnePerKey, replyJson, streamNdjson, wantsNdjson } from './ndjson.js';
import { RETRY_AFTER_SECONDS } from './trigger-handler.js';

export const BACKUPS_PREFIX = '/v1/backups/';

/**
 * The running agent's BackupCatalog over its API, so `backup list|verify` and `restore` see the
 * Backups the agent runs and wait for its runs (the catalog refuses a restore during one):
 *
 *   GET  /v1/backups/<name>                         the listing with retention verdicts
 *   POST /v1/backups/<name>/verify[/<id>]           re-read and check sha256 (the newest complete one by default)
 *   POST /v1/backups/<name>/restore/<id>/preview    what the restore would write and which Services it stops
 *   POST /v1/backups/<name>/restore/<id>            restore; NDJSON progress with Accept: application/x-ndjson
 *
 * `?only=SOURCE` (repeatable) restricts preview and restore to those sources, as `restore --only`.
 *
 * Thin on purpose: the catalog's own methods, their answers as they are. Confirmation is the
 * CLI's job before it calls. One verify or restore per Backup at a time (429 beyond).
 */
export function createBackupRoutes(catalog: BackupCatalog, opts: { scrub: (text: string) => string; onRateLimited?: (req: IncomingMessage) => void }): Handler {
  const oneAtATime = new OnePerKey();
  return async (req: IncomingMessage, res: ServerResponse) => {
    const reply = (code: number, body: unknown, headers: Record<string, string> = {}): true => replyJson(res, code, body, opts.scrub, headers);
    const url = new URL(req.url ?? '/', 'http://agent');
    const m = /^\/v1\/backups\/([a-z0-9][-a-z0-9_]*)(?:\/(verify|restore)(?:\/([A-Za-z0-9][-A-Za-z0-9_.:]*)(\/preview)?)?)?$/.exec(url.pathname);
    if (!m) return reply(404, { error: 'expected /v1/backups/<name>, /v1/backups/<name>/verify[/<id>] or /v1/backups/<name>/restore/<id>[/preview]' });
    const [, name = '', action, id, preview] = m;
    const only = url.searchParams.getAll('only');
    const onlyOpt = only.length > 0 ? only : undefined;
    const failed = (err: unknown): true => reply(409, { error: (err as Error).message });
    if (action === undefined) {
      if (req.method !== 'GET') return reply(405, { error: 'use GET' }, { allow: 'GET' });
      return catalog.list(name).then((listing) => reply(200, listing), failed);
    }
    if (req.method !== 'POST') return reply(405, { error: 'use POST' }, { allow: 'POST' });
    if (action === 'restore' && id === undefined) return reply(404, { error: 'restore needs a backup id: /v1/backups/<name>/restore/<id>' });
    if (preview) return catalog.previewRestore(name, id as string, onlyOpt).then((p) => reply(200, p), failed);
    const busy = (): true => {
      opts.onRateLimited?.(req);
      return reply(429, { error: `Backup/${name} is being verified or restored by an earlier request; try again when it has finished` }, { 'retry-after': String(RETRY_AFTER_SECONDS) });
    };
    return oneAtATime.run(`Backup/${name}`, busy, async () => {
      if (action === 'verify') return catalog.verify(name, id).then((result) => reply(200, result), failed);
      const restore = (onProgress?: (p: unknown) => void) => catalog.restore(name, id as string, { ...(onlyOpt ? { only: onlyOpt } : {}), ...(onProgress ? { onProgress } : {}) });
      if (wantsNdjson(req)) return streamNdjson(res, (progress) => restore(progress), opts.scrub);
      return restore().then((result) => reply(200, result), failed);
    });
  };
}
