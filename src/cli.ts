#!/usr/bin/env node
import { readFile, writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { AgentClient, triggerPath, type ClientFlags } from './cli/agent-client.js';
import { fetchStatus, renderStatus } from './cli/status-command.js';
import { renderHistory, rolloutHistory } from './cli/history-command.js';
import { renderPlan } from './cli/plan-output.js';
import { renderInterruption } from './cli/apply-output.js';
import type { Agent } from './agent.js';
import { isChange } from './engine/reconcile.js';
import { configFrom, DEFAULTS, gitConfigFrom, type AgentConfig, type GitFlags } from './config.js';
import { runImportCompose, type ImportComposeFlags } from './import/import-command.js';
import { certListCommand, certRenewCommand } from './cli/cert-commands.js';
import { askYesNo, backupListCommand, backupRunCommand, backupVerifyCommand, restoreCommand } from './cli/backup-commands.js';
import type { ExportKubernetesFlags } from './cli/export-command.js';
import type { ManualRunResult } from './reconcilers/backup/backup-reconciler.js';
import { AGENT_VERSION } from './version.js';
import { manifestJsonSchema } from './manifests/json-schema.js';
import { validateFolder, type ValidateFlags } from './cli/validate-command.js';
import { formatManifestError } from './manifests/source.js';
import { buildAgent, buildBackupTooling, runStandaloneBackup } from './main.js';
import { parseDuration } from './util/duration.js';

/** Exit codes scripts can rely on (terraform's -detailed-exitcode for plan; 128 + SIGINT for an interrupted apply). */
const EXIT = { ok: 0, error: 1, changes: 2, interrupted: 130 } as const;

const program = new Command('certitrack-agent')
  .description('Reconciles a folder of YAML manifests into Docker containers, schedules, backups, certificates and alarms on one host.')
  .version(AGENT_VERSION)
  .showHelpAfterError();

interface CommonFlags {
  stateDir?: string;
  secretsFile?: string;
  instance?: string;
  listen?: string;
  logLevel?: string;
  allowEmpty?: boolean;
  resync?: string;
  restartBackoff?: string;
  policy?: string;
  secretEnv?: string[];
  strict?: boolean;
  awsInstanceId?: string;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** The flags every command that validates manifests takes (docs/security.md). */
const policyOptions = {
  policy: ['--policy <file>', 'host policy: what manifests may touch beyond their folder (default /etc/certitrack/policy.yaml if present, env CERTITRACK_POLICY)'],
  secretEnv: ['--secret-env <name>', 'an environment variable of the agent that { secretRef } may read (repeatable; never CERTITRACK_* or AWS_*)', collect],
  strict: ['--strict', 'treat warnings (a secret too short to scrub safely, a secrets file others can read) as errors'],
} as const;

const withCommon = (cmd: Command): Command =>
  cmd
    .option('--state-dir <dir>', `where the agent keeps state (default ${DEFAULTS.stateDir}, env CERTITRACK_STATE_DIR)`)
    .option('--secrets-file <file>', 'KEY=VALUE file that { secretRef: KEY } values come from (env CERTITRACK_SECRETS_FILE)')
    .option('--instance <name>', `prefix of every Docker object and owner label (default ${DEFAULTS.instance})`)
    .option('--log-level <level>', 'trace, debug, info, warn, error', undefined)
    .option('--allow-empty', 'allow an empty manifests folder to remove everything the agent owns')
    .option('--restart-backoff <duration>', 'first crash-loop backoff step, doubling to 5 min (default 10s)')
    .option(...policyOptions.policy)
    .option(...policyOptions.secretEnv)
    .option(...policyOptions.strict)
    .option('--aws-instance-id <id>', 'EC2 instance id for InstanceId: auto when IMDS cannot tell it, e.g. off EC2 (env CERTITRACK_AWS_INSTANCE_ID)');

function toConfig(dir: string, flags: CommonFlags & { allowedHost?: string[] }): AgentConfig {
  const ms = (text: string | undefined, flag: string): number | undefined => {
    if (text === undefined) return undefined;
    const v = parseDuration(text);
    if (v === undefined) throw new Error(`${flag}: "${text}" is not a duration`);
    return v;
  };
  return configFrom({
    manifestsDir: dir,
    stateDir: flags.stateDir,
    secretsFile: flags.secretsFile,
    instance: flags.instance,
    listen: flags.listen,
    logLevel: flags.logLevel,
    allowEmpty: flags.allowEmpty,
    resyncMs: ms(flags.resync, '--resync'),
    restartBackoffBaseMs: ms(flags.restartBackoff, '--restart-backoff'),
    policyFile: flags.policy,
    secretEnv: flags.secretEnv,
    strict: flags.strict,
    allowedHosts: flags.allowedHost,
    awsInstanceId: flags.awsInstanceId,
  });
}

withCommon(program.command('run'))
  .description('run the agent: watch the folder (or a git branch) and keep reality matching it until stopped')
  .option('-m, --manifests <dir>', 'folder of manifests')
  .option('--git-url <url>', 'take manifests from this git repository instead (env CERTITRACK_MANIFESTS_GIT_URL)')
  .option('--git-branch <branch>', 'branch to follow (default main)')
  .option('--git-poll <duration>', 'how often to fetch (default 60s); POST /hooks/git fetches at once')
  .option('--git-subdir <dir>', 'folder inside the repository holding the manifests')
  .option('--git-credentials <file>', 'git-credentials lines (HTTPS) or a private key (SSH)')
  .option('--listen <host:port>', `HTTP address for /healthz /readyz /metrics /status (default ${DEFAULTS.listen})`)
  .option('--resync <duration>', 'full resync period (default 5m)')
  .option('--allowed-host <name>', 'a Host name the TCP listener answers besides its own address, e.g. the name nginx forwards with (repeatable; env CERTITRACK_ALLOWED_HOSTS)', collect)
  .action(async (flags: CommonFlags & GitFlags & { manifests?: string; allowedHost?: string[] }) => {
    const git = gitConfigFrom(flags);
    if (!git && !flags.manifests) throw new Error('give --manifests DIR or --git-url URL');
    const agent = await buildAgent({ ...toConfig(flags.manifests ?? '.', flags), git }, { exclusive: true });
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      agent.parts.log.info({ signal }, 'stopping');
      void agent.stop().then(() => process.exit(EXIT.ok));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    await agent.run();
  });

program
  .command('validate')
  .description('check every manifest; print all errors with file:line:col; exit 1 if any')
  .argument('<dir>', 'folder of manifests')
  .option('--secrets-file <file>', 'check that referenced secrets exist in this file (env CERTITRACK_SECRETS_FILE)')
  .option('--stack-outputs <file>', 'JSON object of CloudFormation outputs for ${cfn:Name} references (offline checks)')
  .option('--state-dir <dir>', "the agent's state dir, for the keyFile rule (which keys the agent wrote); read only")
  .option(...policyOptions.policy)
  .option(...policyOptions.secretEnv)
  .option(...policyOptions.strict)
  .option('-o, --output <format>', 'text or json', 'text')
  .action(async (dir: string, flags: ValidateFlags & { output: string }) => {
    const result = await validateFolder(dir, flags);
    if (flags.output === 'json') {
      const warnings = result.warnings;
      process.stdout.write(JSON.stringify(result.ok ? { ok: true, revision: result.state.revision, resources: result.state.size, files: result.files, warnings } : { ok: false, errors: result.errors, warnings }, null, 2) + '\n');
    } else {
      for (const w of result.warnings) process.stderr.write(`warning: ${formatManifestError(w)}\n`);
      if (result.ok) process.stdout.write(`${result.files.length} file(s), ${result.state.size} resource(s) valid; revision ${result.state.revision}\n`);
      else {
        for (const e of result.errors) process.stderr.write(formatManifestError(e) + '\n');
        process.stderr.write(`${result.errors.length} error(s)\n`);
      }
    }
    process.exitCode = result.ok ? EXIT.ok : EXIT.error;
  });

withCommon(program.command('plan'))
  .description('show what apply would change against the live engine; exit 0 nothing, 2 changes, 1 error')
  .argument('<dir>', 'folder of manifests')
  .option('-o, --output <format>', 'text or json', 'text')
  .action(async (dir: string, flags: CommonFlags & { output: string }) => {
    const agent = await buildAgent(toConfig(dir, { ...flags, logLevel: flags.logLevel ?? 'warn' }));
    const { load, actions } = await agent.plan();
    for (const w of load.warnings) process.stderr.write(`warning: ${w}\n`);
    if (!load.ok) {
      for (const e of load.errors) process.stderr.write(e + '\n');
      process.exitCode = EXIT.error;
      return;
    }
    const changes = actions.filter(isChange);
    if (flags.output === 'json') process.stdout.write(JSON.stringify({ revision: load.revision, changes: changes.length, actions }, null, 2) + '\n');
    else process.stdout.write(renderPlan(actions));
    process.exitCode = changes.length > 0 ? EXIT.changes : EXIT.ok;
  });

withCommon(program.command('apply'))
  .description('reconcile once until everything is applied and ready, then exit (0 converged, 1 not, 130 interrupted)')
  .argument('<dir>', 'folder of manifests')
  .option('--timeout <duration>', 'give up after this long', '5m')
  .action(async (dir: string, flags: CommonFlags & { timeout: string }) => {
    // Installed before anything starts: an interrupt lets the reconciles in flight finish, a second one exits at once.
    let agent: Agent | undefined;
    let interrupted: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (interrupted) {
        process.stderr.write(`\n${signal} again: exiting now, without waiting for the reconciles in flight\n`);
        process.exit(EXIT.interrupted);
      }
      interrupted = signal;
      process.stderr.write(`\n${signal}: finishing what is in flight, starting nothing new (${signal} again to exit at once)\n`);
      agent?.interrupt(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    agent = await buildAgent(toConfig(dir, flags), { exclusive: true });
    if (interrupted) agent.interrupt(interrupted);
    const started = Date.now();
    const result = await agent.applyOnce(parseDuration(flags.timeout) ?? 300_000, (p) => {
      // Progress for people; scripts read the exit code and the last line.
      if (process.stderr.isTTY) process.stderr.write(`\r${p.ready}/${p.total} services ready after ${Math.round(p.elapsedMs / 1000)}s${p.notReady.length ? `; waiting for ${p.notReady.slice(0, 4).join(', ')}` : ''}\x1b[K`);
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    await agent.stop();
    for (const w of result.load.warnings) process.stderr.write(`warning: ${w}\n`);
    if (result.interrupted) {
      process.stderr.write(renderInterruption(result.interrupted));
      process.exit(EXIT.interrupted);
    }
    if (!result.load.ok) {
      for (const e of result.load.errors) process.stderr.write(e + '\n');
    } else if (!result.converged) {
      process.stderr.write(`not converged after ${flags.timeout}; not ready: ${result.notReady.join(', ') || '(pending reconciles)'}\n`);
    } else {
      process.stderr.write(`applied revision ${result.load.revision} in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    }
    process.exit(result.converged ? EXIT.ok : EXIT.error);
  });

/**
 * Where a client command finds the running agent: its root-only socket in --state-dir (no flags
 * needed as root), or --listen plus the API token (docs/security.md). With --instance, the agent
 * that answers must be that instance.
 */
const withClient = (cmd: Command): Command =>
  cmd
    .option('--state-dir <dir>', `the running agent's state dir, where its socket and API token are (default ${DEFAULTS.stateDir}, env CERTITRACK_STATE_DIR)`)
    .option('--listen <host:port>', "reach the agent over TCP at this address instead of its socket (needs the API token)")
    .option('--token-file <file>', 'the API token for --listen (default <state-dir>/api.token)')
    .option('--instance <name>', 'refuse to talk to an agent of another instance');

async function clientFor(flags: ClientFlags & { instance?: string }): Promise<AgentClient> {
  const client = AgentClient.from(flags);
  if (flags.instance !== undefined) await client.info(flags.instance);
  return client;
}

type ClientCommandFlags = ClientFlags & { instance?: string };

withClient(program.command('status'))
  .description('show the status of a running agent')
  .option('-o, --output <format>', 'text or json', 'text')
  .action(async (flags: ClientCommandFlags & { output: string }) => {
    const doc = await fetchStatus(await clientFor(flags));
    process.stdout.write(flags.output === 'json' ? JSON.stringify(doc, null, 2) + '\n' : renderStatus(doc));
    process.exitCode = doc.manifests && !doc.manifests.ok ? EXIT.error : EXIT.ok;
  });

withClient(program.command('history'))
  .description('the last rollouts of every Service (or one): when, result, strategy, spec hashes, the git commit')
  .argument('[service]', 'Service name')
  .option('-o, --output <format>', 'text or json', 'text')
  .action(async (service: string | undefined, flags: ClientCommandFlags & { output: string }) => {
    const rows = rolloutHistory(await fetchStatus(await clientFor(flags)), service);
    process.stdout.write(flags.output === 'json' ? JSON.stringify(rows, null, 2) + '\n' : renderHistory(rows));
  });

withClient(program.command('run-now'))
  .description('ask the running agent to run a job now, e.g. Schedule/db-vacuum; waits for it and prints the run')
  .argument('<kind/name>', 'resource key')
  .option('-o, --output <format>', 'text or json', 'text')
  .action(async (key: string, flags: ClientCommandFlags & { output: string }) => {
    const [kind, name] = key.split('/');
    if (!kind || !name) throw new Error(`expected KIND/NAME, got "${key}"`);
    const body = await (await clientFor(flags)).postJson(triggerPath(kind, name));
    if (flags.output === 'json') process.stdout.write(JSON.stringify(body, null, 2) + '\n');
    else {
      const run = body as { succeeded?: boolean; exitCode?: number; outputTail?: string; error?: string };
      process.stdout.write(`${key}: ${run.succeeded ? 'succeeded' : 'FAILED'}${run.exitCode !== undefined ? ` (exit ${run.exitCode})` : ''}${run.error ? `: ${run.error}` : ''}\n`);
      if (run.outputTail) process.stdout.write(run.outputTail.replace(/\n?$/, '\n'));
    }
    process.exitCode = (body as { succeeded?: boolean }).succeeded === true ? EXIT.ok : EXIT.error;
  });

const cert = program.command('cert').description('certificates');
withClient(cert.command('list'))
  .description('certificates of the running agent: domains, issuer, serial, expiry, next renewal')
  .action(async (flags: ClientCommandFlags) => {
    process.stdout.write(await certListCommand(await clientFor(flags)));
  });
withClient(cert.command('renew'))
  .description('renew a certificate now (the running agent orders it, within its rate bound)')
  .argument('<name>', 'Certificate name')
  .action(async (name: string, flags: ClientCommandFlags) => {
    process.stdout.write(await certRenewCommand(await clientFor(flags), name));
  });

const backup = program.command('backup').description('backups: run now, list, verify');
withClient(backup.command('run'))
  .description('run a backup now in the running agent and wait, with progress (bytes, rate); --standalone runs it and its retention in this process, without an agent (a CronJob, a timer)')
  .argument('<name>', 'Backup name')
  .option('--standalone', 'run here, without a daemon: progress on stderr, exit 0 or 1 (needs -m)')
  .option('-m, --manifests <dir>', 'with --standalone: folder of manifests that declares the backup')
  .option('--secrets-file <file>', 'with --standalone: KEY=VALUE file for { secretRef } (env CERTITRACK_SECRETS_FILE)')
  .option('--log-level <level>', 'with --standalone: trace, debug, info, warn, error')
  .option(...policyOptions.policy)
  .option(...policyOptions.secretEnv)
  .action(async (name: string, flags: ClientCommandFlags & CommonFlags & { standalone?: boolean; manifests?: string }) => {
    if (flags.standalone) {
      if (!flags.manifests) throw new Error('--standalone needs -m DIR, the manifests that declare the backup');
      const config = toConfig(flags.manifests, flags);
      const stop = new AbortController();
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => stop.abort(new Error(`stopped by ${sig}`)));
      process.exitCode = await backupRunCommand((onProgress) => runStandaloneBackup(config, name, { onProgress, signal: stop.signal }), name, process.stdout, process.stderr);
      return;
    }
    const client = await clientFor(flags);
    process.exitCode = await backupRunCommand(
      (onProgress) => client.postStreaming(triggerPath('Backup', name), onProgress as (p: unknown) => void) as Promise<ManualRunResult>,
      name,
      process.stdout,
    );
  });
withCommon(backup.command('list'))
  .description('every backup of NAME, newest first, with what retention would do to it')
  .argument('<name>', 'Backup name')
  .requiredOption('-m, --manifests <dir>', 'folder of manifests that declares the backup')
  .action(async (name: string, flags: CommonFlags & { manifests: string }) => {
    process.exitCode = await backupListCommand(await buildBackupTooling(toConfig(flags.manifests, flags)), name, process.stdout);
  });
withCommon(backup.command('verify'))
  .description('re-read a backup (default: the newest complete one) and check sizes and sha256; exit 1 on any mismatch')
  .argument('<name>', 'Backup name')
  .argument('[id]', 'backup id')
  .requiredOption('-m, --manifests <dir>', 'folder of manifests that declares the backup')
  .action(async (name: string, id: string | undefined, flags: CommonFlags & { manifests: string }) => {
    process.exitCode = await backupVerifyCommand(await buildBackupTooling(toConfig(flags.manifests, flags)), name, id, process.stdout);
  });
withCommon(program.command('restore'))
  .description('restore backup ID of NAME into what the Backup declares: pg_restore into the database, volumes and files back in place, their Services stopped meanwhile (asks first unless --yes)')
  .argument('<name>', 'Backup name')
  .argument('<id>', 'backup id (see backup list)')
  .requiredOption('-m, --manifests <dir>', 'folder of manifests that declares the backup')
  .option('--only <source>', 'restore only this source: an object name, or postgres:DATABASE, volume:NAME, directory:PATH, file:PATH (repeatable)', collect)
  .option('--yes', 'do not ask for confirmation')
  .action(async (name: string, id: string, flags: CommonFlags & { manifests: string; yes?: boolean; only?: string[] }) => {
    const confirm = process.stdin.isTTY ? (q: string) => askYesNo(q, process.stdin, process.stdout) : undefined;
    const catalog = await buildBackupTooling(toConfig(flags.manifests, flags));
    process.exitCode = await restoreCommand(catalog, name, id, process.stdout, { yes: flags.yes === true, ...(flags.only ? { only: flags.only } : {}), ...(confirm ? { confirm } : {}) });
  });

program
  .command('import-compose')
  .description('convert a docker-compose file into manifests that behave as `docker compose up`; secrets stay references; lists what it could not translate')
  .argument('<compose-file>', 'docker-compose.yml')
  .requiredOption('--out <dir>', 'folder to write the manifests to')
  .option('--profile <name>', 'also import the services of this compose profile (repeatable; * for all)', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--force', 'overwrite files that already exist in the output folder')
  .addHelpText('after', '\nExit codes: 0 everything translated, 3 written but something was not translated exactly (listed), 1 error (nothing written).')
  .action(async (file: string, flags: ImportComposeFlags) => {
    process.exitCode = await runImportCompose(file, flags, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
  });

const exportCmd = program.command('export').description('translate the manifests for another platform');
exportCmd
  .command('kubernetes')
  .description('write a kustomize base (one file per object, kustomization.yaml, README.md) for the same manifests; exit 0 when everything translated or is listed as a warning, 1 on error')
  .argument('<dir>', 'folder of manifests')
  .requiredOption('--out <dir>', 'folder to write to (outside the manifests folder)')
  .option('--namespace <ns>', 'namespace of every object (kustomize namespace:, plus a Namespace object)')
  .option('--storage-class <class>', 'storageClassName of every PersistentVolumeClaim (default: the cluster default, e.g. an EBS gp3 class)')
  .option('--ingress', 'publish ports through an Ingress (TLS from the Certificates) instead of a Service of type LoadBalancer')
  .option('--ingress-class <class>', 'ingressClassName of the Ingress and of the ACME http-01 solver')
  .option('--allow-host-path', 'mount host paths outside the manifests folder from the node (hostPath) instead of failing')
  .option('--agent-image <image>', 'the agent image Backup CronJobs run', `certitrack-agent:${AGENT_VERSION}`)
  .option('--stack-outputs <file>', 'JSON object of CloudFormation outputs for ${cfn:Name} references')
  .option('--force', 'overwrite files already in --out')
  .action(async (dir: string, flags: ExportKubernetesFlags) => {
    // Loaded on use: the Kubernetes models are large, and no other command needs them.
    const { exportKubernetesCommand } = await import('./cli/export-command.js');
    process.exitCode = await exportKubernetesCommand(dir, flags, process.stdout, process.stderr);
  });

program
  .command('schema')
  .description('print the JSON Schema of all manifest kinds (for editors)')
  .option('-o, --out <file>', 'write to a file instead of stdout')
  .action(async (flags: { out?: string }) => {
    const text = JSON.stringify(manifestJsonSchema(), null, 2) + '\n';
    if (flags.out) await writeFile(flags.out, text);
    else process.stdout.write(text);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exit(EXIT.error);
});
