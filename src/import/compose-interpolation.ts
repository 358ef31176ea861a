/**
 * Compose's `${VAR}` interpolation and command-line splitting, as far as translating a compose
 * file needs them. Compose resolves variables on the host before anything else; the agent has no
 * such step, so the importer turns each variable into a secret reference or a shell expansion
 * inside the container, and needs to know exactly where the variables are.
 */

export interface VariableSegment {
  kind: 'variable';
  name: string;
  /** `:-`, `-`, `:?`, `?`, `:+` or `+`; undefined for plain `${VAR}` / `$VAR`. */
  operator?: string;
  argument?: string;
  /** The expression as written, e.g. `${DB_PASSWORD:-x}`; valid POSIX shell syntax too. */
  source: string;
}

export type Segment = { kind: 'text'; text: string } | VariableSegment;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/**
 * Splits a compose string into literal text and variable references. `$$` is a literal `$`.
 * A `$` that starts no valid reference is kept as text, as compose does with `$` before a digit.
 */
export function parseInterpolation(text: string): Segment[] {
  const out: Segment[] = [];
  let literal = '';
  let i = 0;
  const flush = (): void => {
    if (literal) out.push({ kind: 'text', text: literal });
    literal = '';
  };
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch !== '$') {
      literal += ch;
      i += 1;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      literal += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const close = matchingBrace(text, i + 1);
      const inner = close < 0 ? undefined : text.slice(i + 2, close);
      const name = inner === undefined ? undefined : NAME.exec(inner)?.[0];
      if (inner !== undefined && name !== undefined) {
        const rest = inner.slice(name.length);
        const op = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest)?.[0];
        if (rest === '' || op !== undefined) {
          flush();
          out.push({
            kind: 'variable',
            name,
            ...(op !== undefined ? { operator: op, argument: rest.slice(op.length) } : {}),
            source: text.slice(i, close + 1),
          });
          i = close + 1;
          continue;
        }
      }
    } else {
      const name = NAME.exec(text.slice(i + 1))?.[0];
      if (name !== undefined) {
        flush();
        out.push({ kind: 'variable', name, source: `$${name}` });
        i += 1 + name.length;
        continue;
      }
    }
    literal += '$';
    i += 1;
  }
  flush();
  return out;
}

function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth += 1;
    else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

export const variablesIn = (text: string): VariableSegment[] =>
  parseInterpolation(text).filter((s): s is VariableSegment => s.kind === 'variable');

/** The text with `$$` unescaped; only meaningful when it has no variables. */
export const literalText = (text: string): string =>
  parseInterpolation(text)
    .map((s) => (s.kind === 'text' ? s.text : s.source))
    .join('');

/**
 * Splits a command line the way compose does for `command: "a b c"` (shell-like words, no shell):
 * whitespace separates words, single quotes are literal, double quotes and backslashes escape.
 */
export function splitCommandLine(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1] as string)) word += text[++i];
      else word += ch;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      inWord = true;
      if (ch === "'" || ch === '"') quote = ch;
      else if (ch === '\\' && i + 1 < text.length) word += text[++i];
      else word += ch;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in: ${text}`);
  if (inWord) words.push(word);
  return words;
}

/**
 * One argv word as POSIX shell source: literal text single-quoted, variables left as expansions
 * inside double quotes so the shell in the container substitutes them, as compose did on the host.
 */
export function toShellWord(word: string): string {
  const segments = parseInterpolation(word);
  if (segments.every((s) => s.kind === 'text')) {
    const text = segments.map((s) => (s.kind === 'text' ? s.text : '')).join('');
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
  }
  const body = segments.map((s) => (s.kind === 'text' ? s.text.replace(/["\\$`]/g, '\\$&') : s.source)).join('');
  return `"${body}"`;
}
