import { Option } from 'commander';
import { textView, type TextView } from './terminal.js';

/** `-o` on every command that prints data (kubectl's set); anything else is refused by commander. */
export const OUTPUT_FORMATS = ['text', 'json', 'yaml', 'wide'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const outputOption = (): Option =>
  new Option('-o, --output <format>', 'text (fitted to the terminal), wide (every cell whole), json or yaml').choices(OUTPUT_FORMATS).default('text');

interface Out {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * `data` as the format asks: JSON and YAML are the same document (what scripts read), text and
 * wide are what `render` makes of it for people. `compact` JSON is one line (a stream of changes).
 */
export async function formatData(format: OutputFormat, data: unknown, render: (view: TextView) => string, out: Out = process.stdout, compact = false): Promise<string> {
  if (format === 'json') return JSON.stringify(data, null, compact ? undefined : 2) + '\n';
  if (format === 'yaml') {
    // Loaded on use: the commands that print data need no YAML library otherwise.
    const { stringify } = await import('yaml');
    return stringify(data ?? null, { lineWidth: 0 });
  }
  return render(textView(out, { wide: format === 'wide' }));
}

export async function printData(format: OutputFormat, data: unknown, render: (view: TextView) => string, out: Out = process.stdout): Promise<void> {
  out.write(await formatData(format, data, render, out));
}
