import type { IncomingMessage, ServerResponse } from 'node:http';
import { scrubbedJson } from '../log.js';

export const NDJSON = 'application/x-ndjson';

/** Whether the client asked for a stream of progress lines. */
export const wantsNdjson = (req: IncomingMessage): boolean => (req.headers.accept ?? '').includes(NDJSON);

/** One JSON answer, every string scrubbed of secrets. */
export function replyJson(res: ServerResponse, code: number, body: unknown, scrub: (text: string) => string, headers: Record<string, string> = {}): true {
  res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(scrubbedJson(body, scrub) + '\n');
  return true;
}

/**
 * Long work answered as NDJSON: `{"progress":…}` lines while it runs, then `{"result":…}` or
 * `{"error":…}`, every string scrubbed. The status is 200 from the start, so a failure is the
 * last line, not the status code.
 */
export async function streamNdjson(res: ServerResponse, work: (progress: (p: unknown) => void) => Promise<unknown>, scrub: (text: string) => string): Promise<true> {
  res.writeHead(200, { 'content-type': NDJSON, 'cache-control': 'no-store' });
  const line = (o: unknown): void => void res.write(scrubbedJson(o, scrub) + '\n');
  try {
    line({ result: await work((progress) => line({ progress })) });
  } catch (err) {
    // An error that carries structured `details` (a restore that failed part way) sends them too.
    const details = (err as { details?: unknown }).details;
    line({ error: (err as Error).message, ...(details !== undefined ? { details } : {}) });
  }
  res.end();
  return true;
}

/**
 * One request per resource at a time (a second gets 429 with Retry-After), so nobody can queue
 * twenty backups, or two restores of one backup, in a row.
 */
export class OnePerKey {
  private readonly busy = new Set<string>();

  async run<T>(key: string, refused: () => T, work: () => Promise<T>): Promise<T> {
    if (this.busy.has(key)) return refused();
    this.busy.add(key);
    try {
      return await work();
    } finally {
      this.busy.delete(key);
    }
  }
}
