import pino, { type Logger } from 'pino';

export interface LogOptions {
  level?: string;
  /** Pretty, colourised lines for people; JSON otherwise (defaults to whether stdout is a TTY). */
  pretty?: boolean;
  /** Scrubs known secret values from every line, as a last line of defence. */
  redact?: (line: string) => string;
  destination?: pino.DestinationStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  const options: pino.LoggerOptions = {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { name: 'certitrack-agent' },
    timestamp: pino.stdTimeFunctions.isoTime,
    hooks: opts.redact ? { streamWrite: opts.redact } : {},
  };
  if (opts.destination) return pino(options, opts.destination);
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,name' } } });
  }
  return pino(options, pino.destination({ dest: 1, sync: false }));
}

/** Replaces every occurrence of each secret value with ***. Longest first so overlaps scrub fully. */
export function secretScrubber(values: () => readonly string[]): (line: string) => string {
  return (line) => {
    let out = line;
    for (const v of [...values()].sort((a, b) => b.length - a.length)) {
      if (v.length >= 4 && out.includes(v)) out = out.split(v).join('***');
    }
    return out;
  };
}
