import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
// Only light modules at the top: every command loads what it needs when it runs, so `--version`,
// `status`, `validate` and `plan` do not pay for the AWS SDK, dockerode or the Kubernetes models.
import type { Agent } from './agent.js';
import { DEFAULTS, gitConfigFrom, type GitFlags } from './config.js';
import { collect, type CommonFlags, policyOptions, toConfig, withCommon } from './cli/common-options.js';
import type { ImportComposeFlags } from './import/import-command.js';
import type { ExportKubernetesFlags } from './cli/export-command.js';
import type { ValidateFlags } from './cli/validate-command.js';
import type { ManualRunResult } from './reconcilers/backup/backup-reconciler.js';
import { type ClientCommandFlags, connect, withClient } from './cli/client-options.js';
import { registerBackupCommands } from './cli/commands/backup.js';
import { registerCompletion } from './cli/commands/completion.js';
import { registerOperatorCommands } from './cli/commands/operator.js';
import { parseKindFilter, parseKindRef } from './cli/kind-ref.js';
import { type OutputFormat, outputOption, printData, formatData } from './cli/output.js';
import { AGENT_VERSION } from './version.js';
import { parseDuration } from './util/duration.js';
import { EXIT } from './cli/exit-codes.js';

const program = new Command('certitrack-agent')
  .description('Reconciles a folder of YAML manifests into Docker containers, schedules, backups, certificates and alarms on one host.')
  .version(AGENT_VERSION)
  .showHelpAfterError();

const loadMain = () => import('./main.js');

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
    const config = { ...toConfig(flags.manifests ?? '.', flags), git };
    const agent = await (await loadMain()).buildAgent(config, { exclusive: true, daemon: true });
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
  .option('--offline', "check the manifests alone, for a manifests repository's CI: schema, cross-document rules, paths relative to the folder, cron; not secrets, build contexts, host paths or AWS")
  .option('--secrets-file <file>', 'check that referenced secrets exist in this file (env CERTITRACK_SECRETS_FILE)')
  .option('--stack-outputs <file>', 'JSON object of CloudFormation outputs for ${cfn:Name} references (offline checks)')
  .option('--state-dir <dir>', "the agent's state dir, for the keyFile rule (which keys the agent wrote); read only")
  .option(...policyOptions.policy)
  .option(...policyOptions.secretEnv)
  .option(...policyOptions.strict)
  .addOption(outputOption())
  .action(async (dir: string, flags: ValidateFlags & { output: OutputFormat }) => {
    const { validateFolder, validationReport, renderValidation } = await import('./cli/validate-command.js');
    const result = await validateFolder(dir, flags);
    const report = validationReport(result, flags.offline === true);
    if (flags.output === 'json' || flags.output === 'yaml') await printData(flags.output, report, () => '');
    else {
      const text = renderValidation(report);
      process.stderr.write(text.stderr);
      process.stdout.write(text.stdout);
    }
    process.exitCode = result.ok ? EXIT.ok : EXIT.error;
  });

withCommon(program.command('plan'))
  .description('show what apply would change against the live engine; exit 0 nothing, 2 changes, 1 error')
  .argument('<dir>', 'folder of manifests')
  .addOption(outputOption())
  .action(async (dir: string, flags: CommonFlags & { output: OutputFormat }) => {
    const [{ buildAgent }, { renderPlan }, { isChange }] = await Promise.all([loadMain(), import('./cli/plan-output.js'), import('./engine/reconcile.js')]);
    const agent = await buildAgent(toConfig(dir, { ...flags, logLevel: flags.logLevel ?? 'warn' }), { logFd: 2 });
    const { load, actions } = await agent.plan();
    for (const w of load.warnings) process.stderr.write(`warning: ${w}\n`);
    if (!load.ok) {
      for (const e of load.errors) process.stderr.write(e + '\n');
      process.exitCode = EXIT.error;
      return;
    }
    const changes = actions.filter(isChange);
    await printData(flags.output, { revision: load.revision, changes: changes.length, actions }, (view) => renderPlan(actions, view));
    process.exitCode = changes.length > 0 ? EXIT.changes : EXIT.ok;
  });

withCommon(program.command('apply'))
  .description('reconcile once until everything is applied and ready, then exit (0 converged, 1 not, 130 interrupted); logs on stderr, the result on stdout')
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
    const [{ buildAgent }, { renderInterruption }] = await Promise.all([loadMain(), import('./cli/apply-output.js')]);
    agent = await buildAgent(toConfig(dir, flags), { exclusive: true, logFd: 2 });
    if (interrupted) agent.interrupt(interrupted);
    const started = Date.now();
    const result = await agent.applyOnce(parseDuration(flags.timeout) ?? 300_000, (p) => {
      // Progress for people; scripts read the exit code and the result line.
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
      process.stdout.write(`not converged after ${flags.timeout}; not ready: ${result.notReady.join(', ') || '(pending reconciles)'}\n`);
    } else {
      process.stdout.write(`applied revision ${result.load.revision} in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    }
    process.exit(result.converged ? EXIT.ok : EXIT.error);
  });

withClient(program.command('status'))
  .description('show the status of a running agent: every resource, one kind (status service) or one (status service/backend)')
  .argument('[kind/name]', 'a kind, or KIND/NAME (any case)')
  .addOption(outputOption())
  .option('-w, --watch', 'keep watching: print again whenever something changes (Ctrl-C to stop)')
  .option('--interval <duration>', 'how often --watch asks the agent', '2s')
  .action(async (filterText: string | undefined, flags: ClientCommandFlags & { output: OutputFormat; watch?: boolean; interval: string }) => {
    const filter = filterText === undefined ? undefined : parseKindFilter(filterText);
    const { fetchStatus, filterStatus, renderStatus } = await import('./cli/status-command.js');
    const client = await connect(flags);
    const render = async (compact: boolean): Promise<{ text: string; rejected: boolean }> => {
      const doc = filterStatus(await fetchStatus(client), filter);
      return { text: await formatData(flags.output, doc, (view) => renderStatus(doc, view), process.stdout, compact), rejected: doc.manifests?.ok === false };
    };
    if (!flags.watch) {
      const { text, rejected } = await render(false);
      process.stdout.write(text);
      process.exitCode = rejected ? EXIT.error : EXIT.ok;
      return;
    }
    const intervalMs = parseDuration(flags.interval);
    if (intervalMs === undefined || intervalMs < 500) throw new Error(`--interval: "${flags.interval}" is not a duration of at least 500ms`);
    const { watch } = await import('./cli/watch.js');
    const stop = new AbortController();
    // Ctrl-C is how a watch ends: not a failure.
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    await watch(async () => (await render(true)).text, { intervalMs, format: flags.output, out: process.stdout, signal: stop.signal });
    process.exitCode = EXIT.ok;
  });

withClient(program.command('history'))
  .description('the last rollouts of every Service (or one): when, result, strategy, spec hashes, the git commit')
  .argument('[service]', 'Service name')
  .addOption(outputOption())
  .action(async (service: string | undefined, flags: ClientCommandFlags & { output: OutputFormat }) => {
    const [{ fetchStatus }, { renderHistory, rolloutHistory }] = await Promise.all([import('./cli/status-command.js'), import('./cli/history-command.js')]);
    const rows = rolloutHistory(await fetchStatus(await connect(flags)), service);
    await printData(flags.output, rows, (view) => renderHistory(rows, view));
  });

withClient(program.command('run-now'))
  .description('ask the running agent to run a job now, e.g. schedule/db-vacuum; waits for it and prints the run')
  .argument('<kind/name>', 'resource key (kind in any case)')
  .addOption(outputOption())
  .action(async (key: string, flags: ClientCommandFlags & { output: OutputFormat }) => {
    const { kind, name } = parseKindRef(key);
    const { triggerPath } = await import('./cli/agent-client.js');
    const body = await (await connect(flags)).postJson(triggerPath(kind, name));
    const run = body as { succeeded?: boolean; exitCode?: number; outputTail?: string; error?: string };
    await printData(flags.output, body, () => {
      const line = `${kind}/${name}: ${run.succeeded ? 'succeeded' : 'FAILED'}${run.exitCode !== undefined ? ` (exit ${run.exitCode})` : ''}${run.error ? `: ${run.error}` : ''}\n`;
      return line + (run.outputTail ? run.outputTail.replace(/\n?$/, '\n') : '');
    });
    process.exitCode = run.succeeded === true ? EXIT.ok : EXIT.error;
  });

const cert = program.command('cert').description('certificates');
withClient(cert.command('list'))
  .description('certificates of the running agent: domains, issuer, serial, expiry, next renewal')
  .addOption(outputOption())
  .action(async (flags: ClientCommandFlags & { output: OutputFormat }) => {
    const [{ fetchStatus }, { certRowsFromStatus, renderCertList }] = await Promise.all([import('./cli/status-command.js'), import('./cli/cert-commands.js')]);
    const rows = certRowsFromStatus((await fetchStatus(await connect(flags))).resources);
    await printData(flags.output, rows, (view) => renderCertList(rows, new Date(), view));
  });
withClient(cert.command('renew'))
  .description('renew a certificate now (the running agent orders it, within its rate bound)')
  .argument('<name>', 'Certificate name')
  .action(async (name: string, flags: ClientCommandFlags) => {
    const { certRenewCommand } = await import('./cli/cert-commands.js');
    process.stdout.write(await certRenewCommand(await connect(flags), name));
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
    const [{ triggerPath }, { backupRunCommand }] = await Promise.all([import('./cli/agent-client.js'), import('./cli/backup-commands.js')]);
    if (flags.standalone) {
      if (!flags.manifests) throw new Error('--standalone needs -m DIR, the manifests that declare the backup');
      const { runStandaloneBackup } = await import('./main.js');
      const config = toConfig(flags.manifests, flags);
      const stop = new AbortController();
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => stop.abort(new Error(`stopped by ${sig}`)));
      process.exitCode = await backupRunCommand((onProgress) => runStandaloneBackup(config, name, { onProgress, signal: stop.signal }), name, process.stdout, process.stderr);
      return;
    }
    const client = await connect(flags);
    process.exitCode = await backupRunCommand(
      (onProgress) => client.postStreaming(triggerPath('Backup', name), onProgress as (p: unknown) => void) as Promise<ManualRunResult>,
      name,
      process.stdout,
    );
  });
registerBackupCommands(program, backup);

registerOperatorCommands(program);

program
  .command('import-compose')
  .description('convert a docker-compose file into manifests that behave as `docker compose up`; secrets stay references; lists what it could not translate')
  .argument('<compose-file>', 'docker-compose.yml')
  .requiredOption('--out <dir>', 'folder to write the manifests to')
  .option('--profile <name>', 'also import the services of this compose profile (repeatable; * for all)', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--force', 'overwrite files that already exist in the output folder')
  .addHelpText('after', '\nExit codes: 0 everything translated, 3 written but something was not translated exactly (listed), 1 error (nothing written).')
  .action(async (file: string, flags: ImportComposeFlags) => {
    const { runImportCompose } = await import('./import/import-command.js');
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
  .option('--out <file>', 'write to a file instead of stdout')
  .action(async (flags: { out?: string }) => {
    const { manifestJsonSchema } = await import('./manifests/json-schema.js');
    const text = JSON.stringify(manifestJsonSchema(), null, 2) + '\n';
    if (flags.out) await writeFile(flags.out, text);
    else process.stdout.write(text);
  });

registerCompletion(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exit(EXIT.error);
});
