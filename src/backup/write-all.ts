import { once } from 'node:events';
import type { Writable } from 'node:stream';

/**
 * Writes every chunk of `chunks` into `out`, waiting for 'drain' when it is full: this is what makes
 * a slow upload slow the source down instead of filling memory.
 */
export async function writeAll(chunks: AsyncIterable<Buffer>, out: Writable, signal: AbortSignal): Promise<void> {
  for await (const chunk of chunks) {
    if (signal.aborted) throw new Error('aborted');
    if (!out.write(chunk)) await once(out, 'drain', { signal });
  }
}
