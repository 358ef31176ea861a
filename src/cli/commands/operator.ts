import type { Command } from 'commander';
import { type ClientCommandFlags, connect, withClient } from '../client-options.js';
import { EXIT } from '../exit-codes.js';
import { parseKindRef } from '../kind-ref.js';
import { parseDuration } from '../../util/duration.js';

const resourcePath = (kind: string, name: string, verb: string): string => `/v1/resources/${encodeURIComponent(kind)}/${encodeURIComponent(name)}/${verb}`;

/** The day-2 verbs, all through the running agent's API: logs, exec, restart, suspend, resume. */
export function registerOperatorCommands(program: Command): void {
  withClient(program.command('logs'))
    .description("the logs of one or more Services' containers, interleaved with a `name |` prefix (compose's logs); includes the new container of a rollout in progress")
    .argument('<service...>', 'Service names')
    .option('-f, --follow', 'keep printing new lines, also from the containers a restart or rollout starts (Ctrl-C to stop)')
    .option('--tail <n>', 'only the last N lines of each container')
    .option('--since <duration|time>', 'only lines newer than this: a duration (10m, 2h) or an RFC 3339 time')
    .option('-t, --timestamps', "show the engine's timestamp of each line")
    .option('--no-prefix', 'print the lines without the `name |` prefix')
    .action(async (services: string[], flags: ClientCommandFlags & { follow?: boolean; tail?: string; since?: string; timestamps?: boolean; prefix: boolean }) => {
      const { logsCommand, sinceTime } = await import('../logs-command.js');
      if (flags.tail !== undefined && !/^\d+$/.test(flags.tail)) throw new Error(`--tail: "${flags.tail}" is not a number of lines`);
      const since = flags.since === undefined ? undefined : sinceTime(flags.since, new Date());
      const stop = new AbortController();
      // Ctrl-C is how following ends: not a failure.
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      await logsCommand(await connect(flags), services, {
        follow: flags.follow === true,
        ...(flags.tail !== undefined ? { tail: Number(flags.tail) } : {}),
        ...(since ? { since } : {}),
        timestamps: flags.timestamps === true,
        prefix: flags.prefix,
        signal: stop.signal,
      });
      process.exitCode = EXIT.ok;
    });

  withClient(program.command('exec'))
    .description("run a command in a Service's container (the one serving), with a terminal when stdin is one; exits with the command's exit code")
    .argument('<service>', 'Service name')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('-T, --no-tty', 'no terminal even when stdin is one (for scripts)')
    .usage('[options] <service> -- <command...>')
    .action(async (service: string, command: string[], flags: ClientCommandFlags & { tty: boolean }) => {
      const { execCommand } = await import('../exec-command.js');
      process.exitCode = await execCommand(await connect(flags), service, command, { tty: flags.tty && process.stdin.isTTY === true && process.stdout.isTTY === true });
    });

  withClient(program.command('restart'))
    .description('replace the containers of a Service through its normal rollout (StartFirst and health-gated where the service allows): zero downtime where a rollout has it')
    .argument('<service>', 'Service name')
    .option('--no-wait', 'return once the agent has the request, without waiting for the rollout')
    .option('--timeout <duration>', 'how long to wait for the rollout', '5m')
    .action(async (service: string, flags: ClientCommandFlags & { wait: boolean; timeout: string }) => {
      const timeoutMs = parseDuration(flags.timeout);
      if (timeoutMs === undefined) throw new Error(`--timeout: "${flags.timeout}" is not a duration`);
      const { restartCommand } = await import('../restart-command.js');
      process.exitCode = await restartCommand(await connect(flags), service, { wait: flags.wait, timeoutMs }, process.stdout);
    });

  for (const verb of ['suspend', 'resume'] as const) {
    withClient(program.command(verb))
      .description(
        verb === 'suspend'
          ? 'stop the agent acting on a resource (no heals, runs, renewals or rollouts) until resume; kept across restarts; status shows Suspended'
          : 'let the agent act on a suspended resource again; it is reconciled at once',
      )
      .argument('<kind/name>', 'resource, e.g. service/backend (kind in any case)')
      .action(async (ref: string, flags: ClientCommandFlags) => {
        const { kind, name } = parseKindRef(ref);
        const answer = await (await connect(flags)).postJson(resourcePath(kind, name, verb));
        const key = `${kind}/${name}`;
        process.stdout.write(verb === 'suspend' ? `${key} suspended (since ${String(answer.at)})\n` : answer.wasSuspended ? `${key} resumed\n` : `${key} was not suspended\n`);
      });
  }
}
