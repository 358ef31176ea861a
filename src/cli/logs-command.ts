import type { LogRecord } from '../server/logs-route.js';
import { parseDuration } from '../util/duration.js';
import type { AgentClient } from './agent-client.js';
import { type Colour, colorEnabled, paint } from './terminal.js';

export interface LogsOptions {
  follow: boolean;
  tail?: number;
  since?: Date;
  timestamps: boolean;
  prefix: boolean;
  signal: AbortSignal;
}

interface Out {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** `--since 10m` (that long ago) or `--since 2026-12-01T10:00:00Z`. */
export function sinceTime(text: string, now: Date): Date {
  const ms = parseDuration(text);
  if (ms !== undefined) return new Date(now.getTime() - ms);
  const at = Date.parse(text);
  if (Number.isNaN(at)) throw new Error(`--since: "${text}" is neither a duration (10m, 2h) nor an RFC 3339 time`);
  return new Date(at);
}

const PREFIX_COLOURS: readonly Colour[] = ['cyan', 'yellow', 'green', 'magenta', 'blue'];

/**
 * The prefix of a container's lines: the service for the container serving under its name, the
 * container's own name for another (the new one of a rollout in progress), as compose names each
 * container of a service.
 */
export function prefixFor(service: string, container: string, instance: string): string {
  return container === `${instance}-${service}` ? service : container.startsWith(`${instance}-`) ? container.slice(instance.length + 1) : container;
}

/**
 * `logs SERVICE...`: one request per service to the agent (GET /v1/logs/<service>). Without
 * --follow every line is read first and printed in the engine's time order across services and
 * containers; with it, lines are printed as they arrive, until Ctrl-C.
 */
export async function logsCommand(client: AgentClient, services: string[], opts: LogsOptions, out: Out = process.stdout): Promise<void> {
  const { instance } = await client.info();
  const query = new URLSearchParams();
  if (opts.follow) query.set('follow', '1');
  if (opts.tail !== undefined) query.set('tail', String(opts.tail));
  if (opts.since) query.set('since', opts.since.toISOString());
  const width = Math.max(...services.map((s) => s.length));
  const view = { color: colorEnabled(out) };
  const format = (service: string, index: number, r: LogRecord): string => {
    const name = prefixFor(service, r.container, instance);
    const prefix = opts.prefix ? `${paint(view, PREFIX_COLOURS[index % PREFIX_COLOURS.length], `${name.padEnd(width)} |`)} ` : '';
    return `${prefix}${opts.timestamps ? `${r.time} ` : ''}${r.text}\n`;
  };
  const collected: { time: string; line: string }[] = [];
  await Promise.all(
    services.map((service, index) =>
      client.getLines(
        `/v1/logs/${encodeURIComponent(service)}${query.size > 0 ? `?${query.toString()}` : ''}`,
        (json) => {
          const r = JSON.parse(json) as LogRecord;
          const line = format(service, index, r);
          if (opts.follow) out.write(line);
          else collected.push({ time: r.time, line });
        },
        opts.signal,
      ),
    ),
  );
  // A stable sort: lines of one container with the same timestamp keep their order.
  for (const { line } of collected.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0))) out.write(line);
}
