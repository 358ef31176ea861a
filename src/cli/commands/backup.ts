import { realpath } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ClientCommandFlags } from '../client-options.js';
import { collect, type CommonFlags, toConfig, withCommon } from '../common-options.js';
import { type OutputFormat, outputOption, printData } from '../output.js';
import type { BackupTools } from '../backup-commands.js';

type BackupFlags = CommonFlags & ClientCommandFlags & { manifests?: string };

/** The backup tools' flags: the agent's (socket or --listen), and what working without it needs (-m DIR and the common flags). */
const withBackupFlags = (cmd: Command): Command =>
  withCommon(cmd)
    .option('--listen <host:port>', 'reach the agent over TCP at this address instead of its socket (needs the API token)')
    .option('--token-file <file>', 'the API token for --listen (default <state-dir>/api.token)')
    .option('-m, --manifests <dir>', 'with no agent running: the folder of manifests that declares the backup (the running agent uses its own)');

/**
 * The running agent's catalog when one answers (its own manifests, and it knows about the runs in
 * flight); otherwise one built here from -m DIR, reading the destinations and containers directly.
 */
async function backupTools(flags: BackupFlags, err: { write(text: string): unknown }): Promise<BackupTools> {
  const [{ AgentUnreachable }, { connect }, { AgentBackups }] = await Promise.all([import('../agent-client.js'), import('../client-options.js'), import('../agent-backups.js')]);
  try {
    const client = await connect(flags);
    // Asked first: whether an agent answers decides where the work is done.
    const info = await client.info();
    if (flags.manifests !== undefined) {
      const same = async (a: string, b: string): Promise<boolean> => (await realpath(a).catch(() => a)) === (await realpath(b).catch(() => b));
      if (info.manifests !== undefined && !(await same(flags.manifests, info.manifests))) {
        err.write(`note: the running agent answered; it uses its own manifests (${info.manifests}), not -m ${flags.manifests}\n`);
      }
    }
    return new AgentBackups(client);
  } catch (e) {
    if (!(e instanceof AgentUnreachable)) throw e;
    if (flags.manifests === undefined) throw new Error(`${e.message}\nWith no agent running, pass -m DIR (the manifests that declare the backup) to work directly`);
    const { buildBackupTooling } = await import('../../main.js');
    return buildBackupTooling(toConfig(flags.manifests, flags));
  }
}

/** `backup list`, `backup verify` and `restore`: through the running agent, or directly when there is none. */
export function registerBackupCommands(program: Command, backup: Command): void {
  withBackupFlags(backup.command('list'))
    .description('every backup of NAME, newest first, with what retention would do to it')
    .argument('<name>', 'Backup name')
    .addOption(outputOption())
    .action(async (name: string, flags: BackupFlags & { output: OutputFormat }) => {
      const { renderBackupList } = await import('../backup-commands.js');
      const listing = await (await backupTools(flags, process.stderr)).list(name);
      await printData(flags.output, listing, (view) => renderBackupList(listing, view));
    });
  withBackupFlags(backup.command('verify'))
    .description('re-read a backup (default: the newest complete one) and check sizes and sha256; exit 1 on any mismatch')
    .argument('<name>', 'Backup name')
    .argument('[id]', 'backup id')
    .action(async (name: string, id: string | undefined, flags: BackupFlags) => {
      const { backupVerifyCommand } = await import('../backup-commands.js');
      process.exitCode = await backupVerifyCommand(await backupTools(flags, process.stderr), name, id, process.stdout);
    });
  withBackupFlags(program.command('restore'))
    .description('restore backup ID of NAME into what the Backup declares: pg_restore into the database, volumes and files back in place, their Services stopped meanwhile (asks first unless --yes)')
    .argument('<name>', 'Backup name')
    .argument('<id>', 'backup id (see backup list)')
    .option('--only <source>', 'restore only this source: an object name, or postgres:DATABASE, volume:NAME, directory:PATH, file:PATH (repeatable)', collect)
    .option('--yes', 'do not ask for confirmation')
    .action(async (name: string, id: string, flags: BackupFlags & { yes?: boolean; only?: string[] }) => {
      const { askYesNo, restoreCommand } = await import('../backup-commands.js');
      const confirm = process.stdin.isTTY ? (q: string) => askYesNo(q, process.stdin, process.stdout) : undefined;
      // Asked here, before anything is called: the agent's route restores at once.
      process.exitCode = await restoreCommand(await backupTools(flags, process.stderr), name, id, process.stdout, { yes: flags.yes === true, ...(flags.only ? { only: flags.only } : {}), ...(confirm ? { confirm } : {}) });
    });
}
