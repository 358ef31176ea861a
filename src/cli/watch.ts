import { sleepUnlessAborted } from '../util/sleep.js';
import type { OutputFormat } from './output.js';

export interface WatchOptions {
  intervalMs: number;
  format: OutputFormat;
  /** Redraws in place on a terminal; elsewhere each change is printed after the last. */
  out: { write(text: string): unknown; isTTY?: boolean };
  signal: AbortSignal;
}

const CLEAR = '\x1b[H\x1b[2J';

/**
 * `status -w`: asks again every interval and prints only when what it would print changed
 * (kubectl get -w). JSON is one document per line (NDJSON), YAML one document per change. An agent
 * that stops answering is shown, and asked again: a restarting agent comes back. Ends when `signal`
 * aborts (Ctrl-C).
 */
export async function watch(render: () => Promise<string>, opts: WatchOptions): Promise<void> {
  let last: string | undefined;
  while (!opts.signal.aborted) {
    let text: string;
    try {
      text = await render();
    } catch (err) {
      text = `agent unreachable: ${(err as Error).message}\n`;
    }
    if (text !== last) {
      last = text;
      const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      if (opts.format === 'json') opts.out.write(text);
      else if (opts.format === 'yaml') opts.out.write(`---\n${text}`);
      else if (opts.out.isTTY) opts.out.write(`${CLEAR}every ${opts.intervalMs / 1000}s, ${at} (Ctrl-C to stop)\n${text}`);
      else opts.out.write(`# ${at}\n${text}\n`);
    }
    await sleepUnlessAborted(opts.intervalMs, opts.signal);
  }
}
