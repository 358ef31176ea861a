import Dockerode from 'dockerode';
import type { DestinationStream, Logger } from 'pino';
import { Registry } from 'prom-client';
import { dockerClients, type DockerClients } from './adapters/docker/index.js';
import { dockerodeOptions } from './adapters/docker/docker-host.js';
import { Agent } from './agent.js';
import type { AgentConfig } from './config.js';
import { Controller } from './engine/controller.js';
import { DockerEvents } from './engine/docker-events.js';
import { EngineMetrics } from './engine/engine-metrics.js';
import { kindNames } from './manifests/kinds/index.js';
import { ReloadableSecrets } from './manifests/reloadable-secrets.js';
import { MIN_SAFE_SECRET_LENGTH, RememberedSecrets } from './manifests/secrets.js';
import { type HostPolicy, type HostRules, hostRules, loadHostPolicy } from './manifests/host-policy.js';
import { IssuanceRecords } from './certificates/issuance-record.js';
import { ensureApiToken } from './server/api-token.js';
import { RequestRejections } from './server/rejections.js';
import { createLogger, secretScrubber } from './log.js';
import { NetworkReconciler } from './reconcilers/network/network-reconciler.js';
import { Ownership } from './reconcilers/ownership.js';
import { ServiceMetrics } from './reconcilers/service/service-metrics.js';
import { ServiceReconciler } from './reconcilers/service/service-reconciler.js';
import { resourceKey } from './engine/reconcile.js';
import { VolumeReconciler } from './reconcilers/volume/volume-reconciler.js';
import { ScheduleReconciler } from './reconcilers/schedule/schedule-reconciler.js';
import { RunHistory } from './schedule/run-history.js';
import { JobRunner } from './schedule/job-runner.js';
import { AgentHttpServer } from './server/http-server.js';
import { createTriggerHandler, TRIGGER_PREFIX, type Trigger } from './server/trigger-handler.js';
import { notifyReady, notifyStopping, notifyWatchdog, watchdogIntervalMs } from './server/sd-notify.js';
import { GitManifestSource } from './sources/git-source.js';
import { createWebhookRoute, WEBHOOK_PATH } from './sources/webhook.js';
import { join } from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { AWS_RETRY, type AwsClientConfig, buildAwsContext, type AwsContext, type AwsEnabled, resolveEndpoint } from './aws/context.js';
import { looksLikeEc2 } from './aws/ec2-detect.js';
import { StackOutputs } from './aws/stack-outputs.js';
import { HostProbes, type Sample } from './metrics/host-probes.js';
import { registerBuildInfo, sharedProcessMetrics } from './metrics/process-metrics.js';
import { PublishLoop } from './metrics/publish-loop.js';
import { MetricPublisher } from './metrics/publisher.js';
import { AlarmReconciler } from './reconcilers/alarm/alarm-reconciler.js';
import type { RestartRecord } from './reconcilers/service/restart-backoff.js';
import { configureAcmeRetries } from './certificates/acme-http.js';
import { CertificateReconciler } from './reconcilers/certificate/certificate-reconciler.js';
import { ACME_CHALLENGE_PREFIX, AcmeResponder } from './server/acme-responder.js';
import type { Ec2Snapshots } from './adapters/ec2-snapshots.js';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { CloudWatchAdapter } from './adapters/cloudwatch.js';
import { BackupReconciler } from './reconcilers/backup/backup-reconciler.js';
import type { BackupProgress } from './backup/run-backup.js';
import { backupRun } from './backup/backup-job.js';
import { BackupMetrics } from './backup/backup-metrics.js';
import { newBackupId } from './backup/backup-descriptor.js';
import type { SourceDeps } from './backup/sources.js';
import type { ManualRunResult } from './reconcilers/backup/backup-reconciler.js';
import { type RunRecord, runsInStateDir } from './schedule/run-history.js';
import { formatDuration } from './util/duration.js';
import pino from 'pino';
import { BackupCatalog } from './backup/backup-catalog.js';
import { backupAgeSamples } from './backup/backup-metrics.js';
import { type DestinationFactory, destinationFactory } from './backup/destination-factory.js';
import { type RunFacts, runFactsOf } from './backup/run-state.js';
import type { DesiredState } from './manifests/desired-state.js';
import { loadManifests } from './manifests/load.js';
import { EnvFileSecrets, type SecretSource } from './manifests/secrets.js';
import { formatManifestError } from './manifests/source.js';
import { AGENT_VERSION } from './version.js';
import { DurableState } from './state/durable-state.js';
import { StatusBoard } from './state/status-board.js';
import { StateDirLock } from './state/state-dir-lock.js';
import { ServiceHolds } from './state/service-holds.js';
import { OperatorRequests } from './state/operator-requests.js';
import { createOperatorRoutes, RESOURCES_PREFIX } from './server/operator-routes.js';
import { createLogsRoute, LOGS_PREFIX } from './server/logs-route.js';
import { createExecRoute, EXEC_PREFIX } from './server/exec-route.js';
import { BACKUPS_PREFIX, createBackupRoutes } from './server/backup-routes.js';
import type { IncomingMessage } from 'node:http';

export interface BuildOptions {
  /**
   * Take the state dir's lock first (`run`, `apply`): fails at once naming the process that holds
   * it. Read-only commands (`plan`) and in-process tests go without.
   */
  exclusive?: boolean;
  /** Overrides for tests: a logger writing to a buffer, a fake clock, another Docker client. */
  log?: Logger;
  /** Where the agent's own (scrubbed) log goes instead of stdout; tests read it. Ignored with `log`. */
  logTo?: DestinationStream;
  docker?: DockerClients;
  now?: () => Date;
  /** An AWS context built elsewhere (tests point it at a local CloudWatch endpoint). */
  aws?: AwsContext;
  /** The long-running agent (`run`): it alone announces what it runs without (AWS). */
  daemon?: boolean;
  /** Where the log goes: stdout (the daemon's journal) or stderr (a command whose result is on stdout). */
  logFd?: 1 | 2;
}

/**
 * The one composition root: builds the real clients and wires every part together. Nothing else in
 * the code base constructs a client or reaches for a global.
 */
export async function buildAgent(config: AgentConfig, opts: BuildOptions = {}): Promise<Agent> {
  if (!opts.exclusive) return assembleAgent(config, opts, undefined);
  // Before anything reads or writes the state dir (state.json, hash.key).
  const lock = await StateDirLock.acquire(config.stateDir);
  try {
    const agent = await assembleAgent(config, opts, lock);
    const stale = lock.tookOverFrom;
    if (stale) agent.parts.log.warn({ lockFile: lock.file, pid: stale.pid, command: stale.command, startedAt: stale.startedAt }, 'took over the lock of a process that is gone');
    return agent;
  } catch (err) {
    await lock.release();
    throw err;
  }
}

async function assembleAgent(config: AgentConfig, opts: BuildOptions, lock: StateDirLock | undefined): Promise<Agent> {
  const { policy, rules } = hostPolicyOf(config);
  const secrets = new ReloadableSecrets(config.secretsFile, [...config.secretEnv, ...policy.secretEnv]);
  // The agent's own secrets (webhook secret, API token) are scrubbed like the manifests' ones.
  const ownSecrets = new RememberedSecrets();
  if (config.webhookSecret) ownSecrets.add(config.webhookSecret);
  const allSecrets = combinedValues(() => secrets.values(), () => ownSecrets.list());
  const scrub = secretScrubber(allSecrets);
  const log = opts.log ?? createLogger({ level: config.logLevel, redact: scrub, ...(opts.logFd ? { fd: opts.logFd } : {}), ...(opts.logTo ? { destination: opts.logTo, pretty: false } : {}) });
  const now = opts.now ?? (() => new Date());

  const registry = new Registry();
  registerBuildInfo(registry, AGENT_VERSION);
  const metrics = new EngineMetrics(registry, kindNames);

  const stateFlushFailures = new Counter({
    name: 'certitrack_state_flush_failures_total',
    help: 'Failed writes of state.json; the changes stay pending and are written with the next one.',
    registers: [registry],
  });
  const state = await DurableState.open(config.stateDir, {
    onFlushError: (err) => {
      stateFlushFailures.inc();
      log.error({ err: err.message }, 'writing state.json failed; will retry with the next change');
    },
    // Structured bookkeeping (timestamps, ids) must survive: only values long enough to be unambiguous.
    redact: secretScrubber(allSecrets, { minLength: MIN_SAFE_SECRET_LENGTH }),
  });
  const apiToken = await ensureApiToken(config.stateDir);
  ownSecrets.add(apiToken);
  const status = new StatusBoard(state, now);
  status.setRedactor(scrub);

  const docker = opts.docker ?? dockerClients(new Dockerode(dockerodeOptions(config.docker)));
  const aws = opts.aws ?? (await buildAwsContext(awsConfigFor(config)));
  if (!aws.enabled) log[opts.daemon ? 'info' : 'debug']({ reason: aws.reason }, 'AWS features disabled');
  const clients = await awsClients(aws);
  const cloudwatch = clients?.cloudwatch;
  const stackOutputs = new StackOutputs(
    clients?.cloudformation,
    aws.enabled ? aws.stackName : undefined,
    {},
    aws.enabled ? undefined : aws.reason,
  );
  const own = new Ownership(config.instance);

  const serviceReconciler = new ServiceReconciler({
    docker,
    own,
    secrets,
    state,
    metrics: new ServiceMetrics(registry),
    restartBackoff: { baseMs: config.restartBackoffBaseMs, maxMs: config.restartBackoffMaxMs, resetAfterMs: 10 * 60_000 },
    holds: new ServiceHolds(config.stateDir),
  });

  // One run history and one job runner for every scheduled kind (Schedule, Backup).
  const history = new RunHistory(state, now);
  history.recoverInterrupted();
  const runner = new JobRunner(history, registry, { now, log, redact: scrub, onFinished: (event) => controller.dispatch(event) });
  const scheduleReconciler = new ScheduleReconciler(docker, history, runner, { instance: config.instance, secrets });

  const alarmReconciler = new AlarmReconciler(cloudwatch, aws, registry, { instance: config.instance });

  // acme-client's own retry default (5 tries over 75 s, process-wide) would hold a reconcile too long;
  // the certificate reconciler has its own backoff.
  configureAcmeRetries({ maxAttempts: 2, delaySeconds: 2 });
  const acmeResponder = new AcmeResponder();
  const certificateReconciler = new CertificateReconciler(docker, acmeResponder, state, registry, {
    instance: config.instance,
    stateDir: config.stateDir,
    secrets,
    now,
  });

  const runs = (key: string): RunFacts => runFactsOf(history.list(key), runner.runningRecords(key).map((r) => r.id));
  const backups = await backupParts(config, aws, { docker, secrets, log, now, desired: () => controller.current, runner, runs });
  const backupReconciler = new BackupReconciler(docker, history, runner, registry, {
    instance: config.instance,
    secrets,
    state,
    agentVersion: AGENT_VERSION,
    ...backupSourceDeps(config),
    destinations: backups.destinations,
    ...(backups.snapshots ? { snapshots: backups.snapshots } : {}),
    now,
  });

  const requests = new OperatorRequests(state, now);
  const controller = new Controller({
    reconcilers: [
      serviceReconciler,
      new NetworkReconciler(docker, own, state),
      new VolumeReconciler(docker.volumes, own),
      scheduleReconciler,
      backupReconciler,
      certificateReconciler,
      alarmReconciler,
    ],
    status,
    state,
    log,
    metrics,
    now,
    concurrency: config.concurrency,
    resyncMs: config.resyncMs,
    suspended: (key, desired) => requests.suspended(key, desired),
  });

  const events = new DockerEvents({
    docker,
    own,
    log,
    onEvent: (event) => controller.dispatch(event),
    onReconnect: () => void controller.resync('events reconnected'),
  });

  let agent: Agent | undefined;
  const rejections = new RequestRejections(registry, log);
  const server = new AgentHttpServer({
    registries: [sharedProcessMetrics(), registry],
    healthz: () => {
      const idleFor = Date.now() - controller.lastActivity;
      // The loop must have turned within two resync periods; otherwise it is wedged.
      const ok = idleFor < 2 * config.resyncMs + 60_000;
      return { ok, detail: { eventsConnected: events.connected, lastActivitySecondsAgo: Math.round(idleFor / 1000) } };
    },
    readyz: () => {
      const notReady = agent?.notReadyServices() ?? [];
      const applied = controller.isApplied();
      return { ok: applied && notReady.length === 0, detail: { revision: controller.current.revision, appliedRevision: controller.applied ?? null, notReady } };
    },
    status: () => agent?.statusDocument() ?? {},
    info: () => agent?.info() ?? {},
    security: { token: apiToken, allowedHosts: config.allowedHosts, rejections, scrub },
  });

  const triggers = new Map<string, Trigger>([
    ['Schedule', (name) => scheduleReconciler.runNow(name, controller.current, { status, log: log.child({ key: resourceKey('Schedule', name) }) })],
    [
      'Backup',
      (name, onProgress) =>
        backupReconciler.runNow(name, controller.current, { status, log: log.child({ key: resourceKey('Backup', name) }) }, onProgress as ((p: BackupProgress) => void) | undefined),
    ],
    ['Certificate', (name) => certificateReconciler.renewNow(name, controller.current, { log: log.child({ key: `Certificate/${name}` }), status })],
  ]);
  server.mount(acmeResponder.handle, { path: ACME_CHALLENGE_PREFIX, access: 'open', anyHost: true });
  const rateLimited = (req: IncomingMessage): void => rejections.reject('rate_limited', req.socket.remoteAddress);
  server.mount(createTriggerHandler(triggers, { scrub, onRateLimited: rateLimited, refuse: (key) => agent?.triggerRefusal(key) }), { path: TRIGGER_PREFIX, access: 'token' });
  mountOperatorRoutes(server, { docker, own, scrub, log, rateLimited, backups: backups.catalog, agent: () => agent, declared: (service) => controller.current.get('Service', service) !== undefined });

  const git = config.git
    ? new GitManifestSource({ ...config.git, workDir: join(config.stateDir, 'git'), log })
    : undefined;
  if (git) {
    registerGitMetrics(registry, git);
    if (config.webhookSecret) {
      const hook = createWebhookRoute({ secret: config.webhookSecret, onTrigger: () => git.syncNow(), log, onRejected: (reason, req) => rejections.reject(reason, req.socket.remoteAddress) });
      // Signed by the git host, which sends its own Host name: open, any Host, its own body limit.
      server.mount(hook, { path: WEBHOOK_PATH, access: 'open', anyHost: true, ownBody: true });
    }
  }

  const probes = new HostProbes(
    registry,
    { healthUrl: config.healthUrl, mountPoints: config.diskPaths, instanceId: aws.instanceId, log },
    {
      containerRestarts: async (): Promise<Sample[]> =>
        state.entries<RestartRecord>('restarts').map(([name, rec]) => ({ name, value: rec.restarts })),
      backupAges: async (): Promise<Sample[]> => backupAgeSamples(controller.current, history, now()),
      certificateDays: async (): Promise<Sample[]> =>
        status.all().flatMap((r) => {
          const notAfter = r.kind === 'Certificate' && typeof r.details.notAfter === 'string' ? Date.parse(r.details.notAfter) : NaN;
          return Number.isNaN(notAfter) ? [] : [{ name: r.name, value: (notAfter - now().getTime()) / 86_400_000 }];
        }),
    },
  );
  const publishLoop = new PublishLoop(probes, cloudwatch && new MetricPublisher(cloudwatch, registry, { log }), { log });

  const stops: (() => Promise<void>)[] = [() => runner.abort(), () => publishLoop.stop()];
  const watchdogMs = watchdogIntervalMs();
  let watchdog: NodeJS.Timeout | undefined;
  const onReady = (): void => {
    void notifyReady(`revision ${controller.current.revision}`);
    if (watchdogMs !== undefined) {
      // Pet the watchdog only while the loop turns, so a wedged loop gets the agent restarted.
      watchdog = setInterval(() => {
        if (Date.now() - controller.lastActivity < 2 * config.resyncMs + 60_000) void notifyWatchdog();
      }, watchdogMs);
      watchdog.unref();
    }
  };
  stops.push(async () => {
    if (watchdog) clearInterval(watchdog);
    await notifyStopping();
  });

  const issuances = new IssuanceRecords(state);
  agent = new Agent({
    config, log, registry, secrets, status, controller, events, server, metrics, extraStops: stops, git, scrub, backups: backups.catalog,
    checks: { rules, issued: () => issuances.issued() },
    onReady: () => {
      publishLoop.start();
      onReady();
    },
    cfnOutputs: () => stackOutputs.get(),
    lock,
    requests,
  });
  return agent;
}

/**
 * What operators reach through the API beyond triggers: suspend, resume and restart, logs, exec,
 * and the backup catalog. Token routes on TCP, like every control route.
 */
function mountOperatorRoutes(
  server: AgentHttpServer,
  deps: {
    docker: DockerClients;
    own: Ownership;
    scrub: (text: string) => string;
    log: Logger;
    rateLimited: (req: IncomingMessage) => void;
    backups: BackupCatalog;
    agent: () => Agent | undefined;
    declared: (service: string) => boolean;
  },
): void {
  const running = (): Agent => {
    const agent = deps.agent();
    if (!agent) throw new Error('the agent is still starting');
    return agent;
  };
  const verbs = {
    suspend: (kind: string, name: string) => running().suspend(kind, name),
    resume: (kind: string, name: string) => running().resume(kind, name),
    restart: (name: string) => running().restart(name),
  };
  server.mount(createOperatorRoutes(verbs, { scrub: deps.scrub }), { path: RESOURCES_PREFIX, access: 'token' });
  const { containers, sessions } = deps.docker;
  server.mount(createLogsRoute({ containers, sessions, own: deps.own, declared: deps.declared, scrub: deps.scrub }), { path: LOGS_PREFIX, access: 'token' });
  server.mountUpgrade(createExecRoute({ containers, sessions, own: deps.own, log: deps.log }), EXEC_PREFIX);
  server.mount(createBackupRoutes(deps.backups, { scrub: deps.scrub, onRateLimited: deps.rateLimited }), { path: BACKUPS_PREFIX, access: 'token' });
}

/** The host policy a config names, and the rules it gives with the agent's own protected paths. */
function hostPolicyOf(config: AgentConfig): { policy: HostPolicy; rules: HostRules } {
  const policy = loadHostPolicy({ file: config.policyFile, manifestsDir: config.manifestsDir });
  return { policy, rules: hostRules(policy, { stateDir: config.stateDir, secretsFile: config.secretsFile, dockerSocket: config.dockerSocket }) };
}

/** One list of two sources' values, with a stable identity until either changes (the scrubber caches on it). */
function combinedValues(a: () => readonly string[], b: () => readonly string[]): () => readonly string[] {
  let last: { a: readonly string[]; b: readonly string[]; all: readonly string[] } | undefined;
  return () => {
    const va = a();
    const vb = b();
    if (last?.a !== va || last.b !== vb) last = { a: va, b: vb, all: [...va, ...vb] };
    return last.all;
  };
}

/**
 * What `backup list|verify` and `restore` need, built by the one composition root: the catalog over
 * the manifests in `config.manifestsDir`. It reads and writes the destinations and containers
 * directly, so it works with the agent stopped, and it keeps no state of its own (the agent's
 * state.json has one writer).
 */
export async function buildBackupTooling(config: AgentConfig, opts: BuildOptions = {}): Promise<BackupCatalog> {
  return (await backupsWithoutAgent(config, opts, 'warn')).parts.catalog;
}

/**
 * `backup run NAME --standalone`: one run of the Backup and its retention in this process, without
 * a daemon (a Kubernetes CronJob, a host timer), as the agent runs it: the same job, destinations
 * and sources, under the Backup's timeout; SIGTERM (signal) aborts it. Logs go to stderr. It keeps
 * no state: the run history lives with the agent, and the backup's id is a fresh one.
 */
export async function runStandaloneBackup(config: AgentConfig, name: string, opts: BuildOptions & { onProgress?: (p: BackupProgress) => void; signal?: AbortSignal } = {}): Promise<ManualRunResult> {
  const { parts, desired, deps } = await backupsWithoutAgent(config, { ...opts, logTo: opts.logTo ?? pino.destination({ dest: 2, sync: true }) }, config.logLevel);
  const res = desired.get('Backup', name);
  if (!res) throw new Error(`Backup/${name} is not declared in the manifests in ${config.manifestsDir}`);
  const now = deps.now;
  const log = deps.log.child({ key: resourceKey('Backup', name) });
  const run = backupRun(res, 'manual', {
    destinations: parts.destinations,
    sources: parts.sources,
    agentVersion: AGENT_VERSION,
    instance: config.instance,
    ...(parts.snapshots ? { snapshots: parts.snapshots } : {}),
    metrics: BackupMetrics.for(new Registry(), now),
    scrub: deps.scrub,
    now,
  }, log, opts.onProgress);
  const startedAt = now();
  const id = newBackupId(startedAt);
  const signal = AbortSignal.any([AbortSignal.timeout(res.spec.timeout), ...(opts.signal ? [opts.signal] : [])]);
  const record: RunRecord = { id, key: resourceKey('Backup', name), startedAt: startedAt.toISOString(), outputTail: '', trigger: 'manual' };
  try {
    const result = await run.fn(signal, { id });
    Object.assign(record, { exitCode: result.exitCode, succeeded: result.exitCode === 0, outputTail: result.outputTail, ...(result.details ? { details: result.details } : {}) });
  } catch (err) {
    const why = signal.aborted && !opts.signal?.aborted ? ` [timed out after ${formatDuration(res.spec.timeout)}]` : '';
    Object.assign(record, { succeeded: false, outputTail: `${deps.scrub((err as Error).message)}${why}` });
  }
  record.finishedAt = now().toISOString();
  const outcome = run.outcome();
  return { record, ...(outcome ? { outcome } : {}) };
}

/** What the backup tools outside the agent share: the manifests loaded once, real clients, the backup parts. */
async function backupsWithoutAgent(config: AgentConfig, opts: BuildOptions, level: string) {
  const { policy, rules } = hostPolicyOf(config);
  const secrets = new EnvFileSecrets(config.secretsFile, { allowEnv: [...config.secretEnv, ...policy.secretEnv] });
  const loaded = await loadManifests(config.manifestsDir, { secrets, rules });
  if (!loaded.ok) throw new Error(`manifests rejected:\n${loaded.errors.map(formatManifestError).join('\n')}`);
  const scrub = secretScrubber(() => secrets.values());
  const log = opts.log ?? createLogger({ level, redact: scrub, ...(opts.logTo ? { destination: opts.logTo, pretty: false } : {}) });
  const docker = opts.docker ?? dockerClients(new Dockerode(dockerodeOptions(config.docker)));
  const aws = opts.aws ?? (await buildAwsContext(awsConfigFor(config)));
  const deps = { docker, secrets, log, now: opts.now ?? (() => new Date()), desired: () => loaded.state, scrub };
  return { parts: await backupParts(config, aws, deps), desired: loaded.state, deps };
}

/** The backup parts the agent and the CLI's tooling share: destinations, EBS snapshots, the catalog. */
async function backupParts(
  config: AgentConfig,
  aws: AwsContext,
  deps: { docker: DockerClients; secrets: SecretSource; log: Logger; now: () => Date; desired: () => DesiredState; runner?: JobRunner; runs?: (key: string) => RunFacts },
): Promise<{ destinations: DestinationFactory; snapshots: Ec2Snapshots | undefined; catalog: BackupCatalog; sources: SourceDeps }> {
  const destinations = destinationFactory({
    // Backups without a destination live under the agent's state dir.
    localDir: join(config.stateDir, 'backups'),
    s3: s3ClientBase(config, aws),
    warn: (backup, message) => deps.log.warn({ backup }, message),
  });
  const snapshots = aws.enabled && aws.instanceId ? await ec2Snapshots(aws, aws.instanceId) : undefined;
  const runner = deps.runner;
  const sources: SourceDeps = { docker: deps.docker, own: new Ownership(config.instance), secrets: deps.secrets, ...backupSourceDeps(config) };
  const catalog = new BackupCatalog({
    desired: deps.desired,
    destinations,
    sources,
    instance: config.instance,
    ...(snapshots ? { snapshots } : {}),
    ...(runner ? { isRunning: (key: string) => runner.isRunning(key) } : {}),
    runs: deps.runs ?? ((key: string) => runFactsOf(runsInStateDir(config.stateDir, key))),
    holds: new ServiceHolds(config.stateDir),
    scrub: secretScrubber(() => deps.secrets.values()),
    now: deps.now,
    log: deps.log,
  });
  return { destinations, snapshots, catalog, sources };
}

/** How volume and network PostgreSQL sources find their images and tools, from the config. */
function backupSourceDeps(config: AgentConfig): { helperImage?: string; postgresClient: AgentConfig['postgresClient'] } {
  return { ...(config.helperImage ? { helperImage: config.helperImage } : {}), postgresClient: config.postgresClient };
}

/**
 * The AWS clients, loaded only when AWS is enabled: the SDK is large, and off EC2 (and in every
 * command but `run`) it would only slow the start.
 */
async function awsClients(aws: AwsContext): Promise<{ cloudwatch: CloudWatchAdapter; cloudformation: CloudFormationClient } | undefined> {
  if (!aws.enabled) return undefined;
  const [{ CloudWatchClient }, { CloudFormationClient }, { CloudWatchAdapter }] = await Promise.all([
    import('@aws-sdk/client-cloudwatch'),
    import('@aws-sdk/client-cloudformation'),
    import('./adapters/cloudwatch.js'),
  ]);
  return { cloudwatch: new CloudWatchAdapter(new CloudWatchClient(aws.clientConfig('CloudWatch'))), cloudformation: new CloudFormationClient(aws.clientConfig('CloudFormation')) };
}

async function ec2Snapshots(aws: AwsEnabled, instanceId: string): Promise<Ec2Snapshots> {
  const [{ EC2Client }, { Ec2Snapshots }] = await Promise.all([import('@aws-sdk/client-ec2'), import('./adapters/ec2-snapshots.js')]);
  return new Ec2Snapshots(new EC2Client(aws.clientConfig('EC2')), { instanceId, region: aws.region });
}

/**
 * The S3 client options backups start from: the AWS context's region and endpoint override. With
 * AWS disabled an endpoint override (an emulator) still applies, in the SDK's default region.
 */
function s3ClientBase(config: AgentConfig, aws: AwsContext): AwsClientConfig {
  if (aws.enabled) return aws.clientConfig('S3');
  const endpoint = resolveEndpoint('S3', config.aws, process.env);
  return { region: config.aws.region ?? 'us-east-1', ...AWS_RETRY, ...(endpoint ? { endpoint } : {}) };
}

function registerGitMetrics(registry: Registry, git: GitManifestSource): void {
  new Gauge({
    name: 'certitrack_git_applied_commit_info',
    help: 'The git commit whose manifests are applied (value 1).',
    labelNames: ['commit'],
    registers: [registry],
    collect() {
      this.reset();
      const commit = git.status().appliedCommit;
      if (commit) this.labels(commit).set(1);
    },
  });
  new Gauge({
    name: 'certitrack_git_sync_consecutive_failures',
    help: 'Failed git syncs since the last good one.',
    registers: [registry],
    collect() {
      this.set(git.status().consecutiveFailures);
    },
  });
  new Gauge({
    name: 'certitrack_git_last_sync_success_timestamp_seconds',
    help: 'When the manifests repository was last fetched successfully.',
    registers: [registry],
    collect() {
      const at = git.status().lastSuccessAt;
      this.set(at ? at.getTime() / 1000 : 0);
    },
  });
}

/**
 * IMDS is asked only on what looks like EC2 (or when configured): anywhere else the agent must not
 * send packets to the link-local metadata address, and the SDK's credential chain is told the same.
 */
function awsConfigFor(config: AgentConfig) {
  const onEc2 = config.aws.imds ?? looksLikeEc2();
  if (!onEc2 && process.env.AWS_EC2_METADATA_DISABLED === undefined) process.env.AWS_EC2_METADATA_DISABLED = 'true';
  return { ...config.aws, imds: onEc2 };
}
