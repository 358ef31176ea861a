import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

/** Where the agent's HTTP server mounts the handler. */
export const WEBHOOK_PATH = '/hooks/git';

export interface WebhookOptions {
  /** Shared with the git host (GitHub's webhook secret) or with whoever calls with a bearer token. */
  secret: string;
  /** Called once per accepted request, after the response is sent; typically GitManifestSource.syncNow. */
  onTrigger: () => unknown;
  maxBodyBytes?: number;
  log?: Logger;
  /**
   * Told about every refused request instead of a log line each (the agent counts them and logs at
   * most once a minute, so forged webhooks cannot flood the log). Without it, each is logged.
   */
  onRejected?: (reason: 'webhook_auth' | 'body_too_large', req: IncomingMessage) => void;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A handler for `POST /hooks/git` that triggers a manifests sync. It authenticates with either
 * GitHub's `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>` or
 * `Authorization: Bearer <secret>`, both compared in constant time. The payload itself is ignored:
 * the sync fetches the branch whatever the event said, so a forged or replayed body can at worst
 * cause one extra fetch.
 *
 * 202 accepted, 401 bad or missing authentication, 405 not POST, 413 body too large.
 */
export function createWebhookHandler(opts: WebhookOptions): RequestHandler {
  if (opts.secret.length < 16) throw new Error('the webhook secret must be at least 16 characters');
  const secret = Buffer.from(opts.secret, 'utf8');
  const maxBodyBytes = opts.maxBodyBytes ?? 1024 * 1024;

  return (req, res) => {
    if (req.method !== 'POST') {
      reply(res, 405, { error: 'method not allowed' }, { Allow: 'POST' });
      req.resume();
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) {
      opts.onRejected?.('body_too_large', req);
      reply(res, 413, { error: 'body too large' }, { Connection: 'close' });
      req.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let aborted = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes && !aborted) {
        aborted = true;
        opts.onRejected?.('body_too_large', req);
        reply(res, 413, { error: 'body too large' }, { Connection: 'close' });
        req.destroy();
        return;
      }
      if (!aborted) chunks.push(chunk);
    });
    req.on('end', () => {
      if (aborted) return;
      const body = Buffer.concat(chunks);
      if (!authenticated(req, body, secret)) {
        if (opts.onRejected) opts.onRejected('webhook_auth', req);
        else opts.log?.warn({ remote: req.socket.remoteAddress }, 'git webhook rejected: bad or missing authentication');
        reply(res, 401, { error: 'unauthorized' }, { 'WWW-Authenticate': 'Bearer' });
        return;
      }
      reply(res, 202, { accepted: true });
      try {
        Promise.resolve(opts.onTrigger()).catch((err: unknown) => opts.log?.warn({ err }, 'git webhook trigger failed'));
      } catch (err) {
        opts.log?.warn({ err }, 'git webhook trigger failed');
      }
    });
    req.on('error', () => {
      aborted = true;
    });
  };
}

/**
 * The same handler as a route for the agent's HTTP server: handles `WEBHOOK_PATH` and returns
 * true, returns false for any other path so the next route can try.
 */
export function createWebhookRoute(opts: WebhookOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const handle = createWebhookHandler(opts);
  return (req, res) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== WEBHOOK_PATH) return false;
    handle(req, res);
    return true;
  };
}

function authenticated(req: IncomingMessage, body: Buffer, secret: Buffer): boolean {
  const signature = header(req, 'x-hub-signature-256');
  if (signature !== undefined) {
    const m = /^sha256=([0-9a-fA-F]{64})$/.exec(signature.trim());
    if (!m) return false;
    const expected = createHmac('sha256', secret).update(body).digest();
    return timingSafeEqual(Buffer.from(m[1] as string, 'hex'), expected);
  }
  const authorization = header(req, 'authorization');
  const bearer = authorization === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  if (bearer === undefined) return false;
  // Hashing first gives equal-length inputs, so neither the comparison nor an early length check
  // reveals how much of the secret matched.
  const digest = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
  return timingSafeEqual(digest(Buffer.from(bearer, 'utf8')), digest(secret));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}
