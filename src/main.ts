import Dockerode from 'dockerode';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { dockerClients, type DockerClients } from './adapters/docker/index.js';
import { Agent } from './agent.js';
import type { AgentConfig } from './config.js';
import { Controller } from './engine/controller.js';
import { DockerEvents } from './engine/docker-events.js';
import { EngineMetrics } from './engine/engine-metrics.js';
import { kindNames } from './manifests/kinds/index.js';
import { ReloadableSecrets } from './manifests/reloadable-secrets.js';
import { createLogger, secretScrubber } from './log.js';
import { NetworkReconciler } from './reconcilers/network/network-reconciler.js';
import { Ownership } from './reconcilers/ownership.js';
import { ServiceMetrics } from './reconcilers/service/service-metrics.js';
import { ServiceReconciler } from './reconcilers/service/service-reconciler.js';
import { fromLegacy } from './reconcilers/types.js';
import { VolumeReconciler } from './reconcilers/volume/volume-reconciler.js';
import { ScheduleReconciler } from './reconcilers/schedule-reconciler.js';
import { RunHistory } from './schedule/run-history.js';
import { JobRunner } from './schedule/job-runner.js';
import { AgentHttpServer } from './server/http-server.js';
import { createTriggerHandler, type Trigger } from './server/trigger-handler.js';
import { notifyReady, notifyStopping, notifyWatchdog, watchdogIntervalMs } from './server/sd-notify.js';
import { GitManifestSource } from './sources/git-source.js';
import { createWebhookRoute } from './sources/webhook.js';
import { join } from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchAdapter } from './adapters/cloudwatch.js';
import { buildAwsContext, type AwsContext } from './aws/context.js';
import { looksLikeEc2 } from './aws/ec2-detect.js';
import { StackOutputs } from './aws/stack-outputs.js';
import { HostProbes, type Sample } from './metrics/host-probes.js';
import { PublishLoop } from './metrics/publish-loop.js';
import { MetricPublisher } from './metrics/publisher.js';
import { AlarmReconciler } from './reconcilers/alarm-reconciler.js';
import type { RestartRecord } from './reconcilers/service/restart-backoff.js';
import { configureAcmeRetries } from './certificates/acme-http.js';
import { CertificateReconciler } from './reconcilers/certificate-reconciler.js';
import { AcmeResponder } from './server/acme-responder.js';
import { EC2Client } from '@aws-sdk/client-ec2';
import { Ec2Snapshots } from './adapters/ec2-snapshots.js';
import { BackupReconciler, backupOptionsFrom } from './reconcilers/backup-reconciler.js';
import type { BackupProgress } from './backup/run-backup.js';
import { AGENT_VERSION } from './version.js';
import { DurableState } from './state/durable-state.js';
import { StatusBoard } from './state/status-board.js';
import { StateDirLock } from './state/state-dir-lock.js';

export interface BuildOptions {
  /**
   * Take the state dir's lock first (`run`, `apply`): fails at once naming the process that holds
   * it. Read-only commands (`plan`) and in-process tests go without.
   */
  exclusive?: boolean;
  /** Overrides for tests: a logger writing to a buffer, a fake clock, another Docker client. */
  log?: Logger;
  docker?: DockerClients;
  now?: () => Date;
  /** An AWS context built elsewhere (tests point it at a local CloudWatch endpoint). */
  aws?: AwsContext;
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
  const secrets = new ReloadableSecrets(config.secretsFile);
  const scrub = secretScrubber(() => secrets.values());
  const log = opts.log ?? createLogger({ level: config.logLevel, redact: scrub });
  const now = opts.now ?? (() => new Date());

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'certitrack_agent_' });
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
  });
  const status = new StatusBoard(state, now);
  status.setRedactor(scrub);

  const docker = opts.docker ?? dockerClients(new Dockerode({ socketPath: config.dockerSocket }));
  const aws = opts.aws ?? (await buildAwsContext(awsConfigFor(config)));
  if (!aws.enabled) log.info({ reason: aws.reason }, 'AWS features disabled');
  const cloudwatch = aws.enabled ? new CloudWatchAdapter(new CloudWatchClient(aws.clientConfig('CloudWatch'))) : undefined;
  const stackOutputs = new StackOutputs(
    aws.enabled ? new CloudFormationClient(aws.clientConfig('CloudFormation')) : undefined,
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
  });

  // One run history and one job runner for every scheduled kind (Schedule, Backup).
  const history = new RunHistory(state, now);
  history.recoverInterrupted();
  const runner = new JobRunner(history, registry, { now, log, redact: scrub });
  const scheduleReconciler = new ScheduleReconciler(docker, history, runner, { instance: config.instance, secrets, now, log });

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

  const backupReconciler = new BackupReconciler(docker, history, runner, registry, {
    ...backupOptionsFrom(config, { secrets, state, agentVersion: AGENT_VERSION, log }),
    snapshots:
      aws.enabled && aws.instanceId
        ? new Ec2Snapshots(new EC2Client(aws.clientConfig('EC2')), { instanceId: aws.instanceId, region: aws.region })
        : undefined,
    onRunFinished: (key) => controller.enqueue(key),
    now,
  });

  const controller = new Controller({
    reconcilers: [
      serviceReconciler,
      new NetworkReconciler(docker, own, state),
      new VolumeReconciler(docker.volumes, own),
      fromLegacy('Schedule', scheduleReconciler, status, now),
      fromLegacy('Backup', backupReconciler, status, now),
      fromLegacy('Certificate', certificateReconciler, status, now),
      fromLegacy('Alarm', alarmReconciler, status, now),
    ],
    status,
    state,
    log,
    metrics,
    now,
    concurrency: config.concurrency,
    resyncMs: config.resyncMs,
  });

  const events = new DockerEvents({
    docker,
    own,
    log,
    onEvent: (event) => controller.dispatch(event),
    onReconnect: () => void controller.resync('events reconnected'),
  });

  let agent: Agent | undefined;
  const server = new AgentHttpServer({
    registry,
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
  });

  const triggers = new Map<string, Trigger>([
    ['Schedule', (name) => scheduleReconciler.runNow(name, controller.current)],
    ['Backup', (name, onProgress) => backupReconciler.runNow(name, controller.current, onProgress as ((p: BackupProgress) => void) | undefined)],
    ['Certificate', (name) => certificateReconciler.renewNow(name, controller.current, { log: log.child({ key: `Certificate/${name}` }), status })],
  ]);
  server.mount(acmeResponder.handle);
  server.mount(createTriggerHandler(triggers));

  const git = config.git
    ? new GitManifestSource({ ...config.git, workDir: join(config.stateDir, 'git'), log })
    : undefined;
  if (git) {
    registerGitMetrics(registry, git);
    if (config.webhookSecret) server.mount(createWebhookRoute({ secret: config.webhookSecret, onTrigger: () => git.syncNow(), log }));
  }

  const probes = new HostProbes(
    registry,
    { healthUrl: config.healthUrl, mountPoints: config.diskPaths, instanceId: aws.instanceId, log },
    {
      containerRestarts: async (): Promise<Sample[]> =>
        state.entries<RestartRecord>('restarts').map(([name, rec]) => ({ name, value: rec.restarts })),
      // From the persisted run history, so the figure is right straight after an agent restart.
      backupAges: async (): Promise<Sample[]> =>
        controller.current.list('Backup').flatMap((b) => {
          const last = history.lastSuccess(`Backup/${b.name}`);
          const at = last?.finishedAt ? new Date(last.finishedAt).getTime() : undefined;
          return at === undefined ? [] : [{ name: b.name, value: Math.max(0, (now().getTime() - at) / 1000) }];
        }),
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

  agent = new Agent({
    config, log, registry, secrets, status, controller, events, server, metrics, extraStops: stops, git,
    onReady: () => {
      publishLoop.start();
      onReady();
    },
    cfnOutputs: () => stackOutputs.get(),
    lock,
  });
  return agent;
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
