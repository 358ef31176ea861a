/** What the CLI's output may do on the stream it writes to: how wide it may be, whether to colour it. */
export interface TextView {
  /** Columns a table may take; undefined: no limit (a pipe, a file, or `-o wide`). */
  width: number | undefined;
  color: boolean;
}

interface OutStream {
  isTTY?: boolean;
  columns?: number;
}

/**
 * Colour only on a terminal, never with NO_COLOR set to anything (no-color.org) or TERM=dumb;
 * FORCE_COLOR asks for it anyway (tests, `| less -R`).
 */
export function colorEnabled(stream: OutStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

/**
 * A terminal's width, else $COLUMNS; a pipe without COLUMNS gets everything, as kubectl does, so
 * scripts that grep the table never see a cell cut short.
 */
export function outputWidth(stream: OutStream, env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (stream.isTTY && stream.columns) return stream.columns;
  const cols = Number(env.COLUMNS);
  return Number.isInteger(cols) && cols > 0 ? cols : undefined;
}

export function textView(stream: OutStream, opts: { wide?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): TextView {
  return { width: opts.wide ? undefined : outputWidth(stream, env), color: colorEnabled(stream, env) };
}

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, dim: 2, bold: 1 } as const;
export type Colour = keyof typeof CODES;

/** `text` in `colour` when the view allows colour. */
export const paint = (view: Pick<TextView, 'color'>, colour: Colour | undefined, text: string): string =>
  view.color && colour && text !== '' ? `\x1b[${CODES[colour]}m${text}\x1b[0m` : text;

/** The colour of a condition status or verdict as people read it: True green, False red, the rest yellow. */
export function statusColour(value: string): Colour | undefined {
  if (value === 'True' || value === 'ok' || value === 'keep' || value === 'succeeded' || value === 'complete') return 'green';
  if (value === 'False' || value === 'EXPIRED' || value === 'failed' || value === 'rolled_back' || value === 'incomplete' || value === 'FAILED') return 'red';
  if (value === 'Unknown' || value === 'remove' || value === 'cleanup' || value === 'pending') return 'yellow';
  return undefined;
}
