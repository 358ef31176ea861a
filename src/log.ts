import pino, { type Logger } from 'pino';
import { colorEnabled } from './cli/terminal.js';

export interface LogOptions {
  level?: string;
  /** Pretty, colourised lines for people; JSON otherwise (defaults to whether stdout is a TTY). */
  pretty?: boolean;
  /** Scrubs known secret values from every line, as a last line of defence. */
  redact?: (line: string) => string;
  destination?: pino.DestinationStream;
  /** 1 (stdout, the default: the daemon's journal) or 2 (stderr: a command whose result is on stdout). */
  fd?: 1 | 2;
}

/** How people see the log on a terminal: one line per event (the fields after the message), coloured only where colour may go. */
export const prettyOptions = (colorize: boolean) => ({ colorize, singleLine: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,name' });

export function createLogger(opts: LogOptions = {}): Logger {
  const fd = opts.fd ?? 1;
  const stream = fd === 2 ? process.stderr : process.stdout;
  const pretty = opts.pretty ?? stream.isTTY === true;
  const options: pino.LoggerOptions = {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { name: 'certitrack-agent' },
    timestamp: pino.stdTimeFunctions.isoTime,
    hooks: opts.redact ? { streamWrite: opts.redact } : {},
  };
  if (opts.destination) return pino(options, opts.destination);
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { ...prettyOptions(colorEnabled(stream)), destination: fd } } });
  }
  return pino(options, pino.destination({ dest: fd, sync: false }));
}

/**
 * The forms a value takes in what the agent writes: raw (job output, messages), JSON-escaped once
 * (a pino line, /status, state.json) and twice (job output that was itself JSON, inside a log line),
 * and URL-encoded (inside a URL in an error). A value with a quote, a backslash or a newline looks
 * different in each, so each form is scrubbed.
 */
export function secretForms(value: string): string[] {
  const once = JSON.stringify(value).slice(1, -1);
  const twice = JSON.stringify(once).slice(1, -1);
  return [...new Set([value, once, twice, encodeURIComponent(value)])].filter((f) => f !== '');
}

/**
 * Replaces every occurrence of each secret value, in each of its forms, with ***. Longest first,
 * so a value containing another is scrubbed whole. The forms are recomputed only when the list of
 * values changes (SecretSource.values() returns the same array until then).
 */
export function secretScrubber(values: () => readonly string[], opts: { minLength?: number } = {}): (line: string) => string {
  const min = opts.minLength ?? 1;
  let seen: readonly string[] | undefined;
  let forms: string[] = [];
  return (line) => {
    const current = values();
    if (current !== seen) {
      seen = current;
      forms = [...new Set(current.filter((v) => v.length >= min).flatMap(secretForms))].sort((a, b) => b.length - a.length);
    }
    let out = line;
    for (const f of forms) if (out.includes(f)) out = out.split(f).join('***');
    return out;
  };
}

/** JSON.stringify with every string in the value scrubbed first; the structure stays valid JSON. */
export function scrubbedJson(value: unknown, scrub: (text: string) => string, space?: number): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? scrub(v) : v), space);
}

/** The same value with every string inside it (object values, array items) scrubbed. */
export function scrubDeep<T>(value: T, scrub: (text: string) => string): T {
  if (typeof value === 'string') return scrub(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => scrubDeep(v, scrub)) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubDeep(v, scrub)])) as T;
  }
  return value;
}
