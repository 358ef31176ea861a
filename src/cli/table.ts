import { type Colour, paint, type TextView } from './terminal.js';

type Cell = string | number | undefined | null;

export interface TableOptions {
  /** Fit the table into this many columns by cutting the widest cells short (…); undefined: no limit. */
  width?: number | undefined;
  color?: boolean;
  /** The colour of a cell, by column header and text (applied after padding, so widths stay right). */
  colour?: (header: string, text: string) => Colour | undefined;
}

const GAP = 3;
/** A column is never cut below this (or its header), so every column stays readable. */
const MIN_COLUMN = 8;
const ELLIPSIS = '…';

/**
 * A plain aligned table, like kubectl's default output. Given a width, the widest columns give up
 * characters first until the table fits (`-o wide` passes no width and shows every cell whole).
 */
export function formatTable(headers: string[], rows: Cell[][], opts: TableOptions = {}): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined || c === null ? '' : String(c).replace(/\s*\n\s*/g, ' '))))];
  const widths = fitWidths(
    headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length))),
    headers.map((h) => Math.min(h.length, MIN_COLUMN)),
    opts.width,
  );
  const view = { color: opts.color === true };
  return (
    cells
      .map((r, rowIndex) =>
        r
          .map((c, i) => {
            const w = widths[i] ?? 0;
            const text = c.length > w ? `${c.slice(0, Math.max(0, w - 1))}${ELLIPSIS}` : c;
            const padding = i === r.length - 1 ? '' : ' '.repeat(Math.max(0, w - text.length));
            const colour = rowIndex === 0 ? 'bold' : opts.colour?.(headers[i] ?? '', c);
            return paint(view, colour, text) + padding;
          })
          .join(' '.repeat(GAP))
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** Shrinks the widest column one character at a time until the row fits, none below its minimum. */
function fitWidths(natural: number[], minimum: number[], limit: number | undefined): number[] {
  const widths = [...natural];
  if (limit === undefined) return widths;
  const total = (): number => widths.reduce((a, b) => a + b, 0) + GAP * Math.max(0, widths.length - 1);
  while (total() > limit) {
    let widest = -1;
    for (let i = 0; i < widths.length; i++) {
      if ((widths[i] ?? 0) > Math.max(MIN_COLUMN, minimum[i] ?? 0) && (widest < 0 || (widths[i] ?? 0) > (widths[widest] ?? 0))) widest = i;
    }
    if (widest < 0) break;
    widths[widest] = (widths[widest] ?? 0) - 1;
  }
  return widths;
}

/** A table as a view asks for it: fitted to its width, coloured when it may be. */
export const tableFor = (view: TextView, colour?: TableOptions['colour']): TableOptions => ({ width: view.width, color: view.color, ...(colour ? { colour } : {}) });
