/**
 * KEY=VALUE lines, the format of the seed's .env.production and of systemd's EnvironmentFile:
 * blank lines and `#` comments are skipped, `export ` is allowed, a value may be 'single-quoted'
 * (literal) or "double-quoted" (with \n \t \" \\ escapes), and an unquoted value ends at ` #`.
 * Anything else is an error naming the line number only: the line itself holds a secret.
 */
export class EnvFileSyntaxError extends Error {
  constructor(
    readonly line: number,
    problem: string,
  ) {
    super(`line ${line}: ${problem}`);
  }
}

const LINE = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/;
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\', $: '$' };

export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    const m = LINE.exec(line);
    if (!m) throw new EnvFileSyntaxError(i + 1, 'expected NAME=value (NAME: letters, digits and _, not starting with a digit)');
    out[m[1] as string] = parseValue(m[2] as string, i + 1);
  });
  return out;
}

function parseValue(rest: string, line: number): string {
  const quote = rest[0];
  if (quote === "'") {
    const end = rest.indexOf("'", 1);
    if (end < 0) throw new EnvFileSyntaxError(line, 'unterminated single quote (values cannot span lines)');
    return afterQuote(rest.slice(1, end), rest.slice(end + 1), line);
  }
  if (quote === '"') {
    let value = '';
    for (let i = 1; i < rest.length; i++) {
      const c = rest[i] as string;
      if (c === '"') return afterQuote(value, rest.slice(i + 1), line);
      if (c === '\\' && i + 1 < rest.length) {
        const next = rest[++i] as string;
        value += ESCAPES[next] ?? `\\${next}`;
      } else value += c;
    }
    throw new EnvFileSyntaxError(line, 'unterminated double quote (values cannot span lines)');
  }
  return rest.replace(/\s+#.*$/, '').trim();
}

function afterQuote(value: string, trailing: string, line: number): string {
  const t = trailing.trim();
  if (t !== '' && !t.startsWith('#')) throw new EnvFileSyntaxError(line, 'unexpected text after the closing quote');
  return value;
}
