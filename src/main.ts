import Dockerode from 'dockerode';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { DockerodeAdapter, type DockerAdapter } from './adapters/docker.js';
import { Agent } from './agent.js';
import type { AgentConfig } from './config.js';
import { Controller } from './engine/controller.js';
import { DockerEvents } from './engine/docker-events.js';
import { EngineMetrics } from './engine/engine-metrics.js';
import { kindNames } from './manifests/kinds/index.js';
import { ReloadableSecrets } from './manifests/reloadable-secrets.js';
import { createLogger, secretScrubber } from './log.js';
import { DockerInfra } from './reconcilers/infra.js';
import { NetworkReconciler } from './reconcilers/network-reconciler.js';
import { Ownership } from './reconcilers/ownership.js';
import { ServiceMetrics } from './reconcilers/service/service-metrics.js';
import { ServiceReconciler } from './reconcilers/service/service-reconciler.js';
import { resourceKey } from './reconcilers/types.js';
import { VolumeReconciler } from './reconcilers/volume-reconciler.js';
import { ScheduleReconciler } from './reconcilers/schedule-reconciler.js';
import { RunHistory } from './schedule/run-history.js';
import { JobRunner } from './schedule/job-runner.js';
import { AgentHttpServer } from './server/http-server.js';
import { createTriggerHandler, type Trigger } from './server/trigger-handler.js';
import { StateStore } from './state/state-store.js';
import { StatusStore } from './state/status-store.js';

export interface BuildOptions {
  /** Overrides for tests: a logger writing to a buffer, a fake clock, another Docker client. */
  log?: Logger;
  docker?: DockerAdapter;
  now?: () => Date;
}

/**
 * The one composition root: builds the real clients and wires every part together. Nothing else in
 * the code base constructs a client or reaches for a global.
 */
export async function buildAgent(config: AgentConfig, opts: BuildOptions = {}): Promise<Agent> {
  const secrets = new ReloadableSecrets(config.secretsFile);
  const scrub = secretScrubber(() => secrets.values());
  const log = opts.log ?? createLogger({ level: config.logLevel, redact: scrub });
  const now = opts.now ?? (() => new Date());

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'certitrack_agent_' });
  const metrics = new EngineMetrics(registry, kindNames);

  const state = await StateStore.open(config.stateDir);
  const status = new StatusStore(state, now);
  status.setRedactor(scrub);

  const docker = opts.docker ?? new DockerodeAdapter(new Dockerode({ socketPath: config.dockerSocket }));
  const own = new Ownership(config.instance);
  const infra = new DockerInfra(docker, own);

  const serviceReconciler = new ServiceReconciler({
    docker,
    own,
    infra,
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

  const controller = new Controller({
    reconcilers: [serviceReconciler, new NetworkReconciler(docker, own, infra), new VolumeReconciler(docker, own, infra), scheduleReconciler],
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
    onServiceEvent: (service) => {
      controller.enqueue(resourceKey('Service', service));
      // Dependents waiting on this service's start or health can move now.
      for (const s of controller.current.list('Service')) {
        if (s.spec.dependsOn.some((d) => d.service === service)) controller.enqueue(resourceKey('Service', s.name));
      }
    },
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

  const triggers = new Map<string, Trigger>([['Schedule', (name) => scheduleReconciler.runNow(name, controller.current)]]);
  server.mount(createTriggerHandler(triggers));

  agent = new Agent({ config, log, registry, secrets, status, controller, events, server, metrics, extraStops: [() => runner.abort()] });
  return agent;
}
