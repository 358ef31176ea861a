import type { IncomingMessage, ServerResponse } from 'node:http';

export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';
const PREFIX = ACME_CHALLENGE_PREFIX;

/**
 * Answers ACME http-01 challenges from memory: token -> key authorization. Mounted on the agent's
 * HTTP listener; nginx forwards /.well-known/acme-challenge/ to it. A key authorization is public by
 * design (the CA fetches it over plain HTTP), so serving it reveals nothing secret.
 */
export class AcmeResponder {
  private readonly tokens = new Map<string, string>();

  set(token: string, keyAuthorization: string): void {
    this.tokens.set(token, keyAuthorization);
  }

  delete(token: string): void {
    this.tokens.delete(token);
  }

  get size(): number {
    return this.tokens.size;
  }

  /** A route handler: true when it answered (the path is a challenge path), false to let others try. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (!path.startsWith(PREFIX)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('method not allowed\n');
      return true;
    }
    const value = this.tokens.get(path.slice(PREFIX.length));
    if (value === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such challenge\n');
      return true;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(value), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : value);
    return true;
  };
}
