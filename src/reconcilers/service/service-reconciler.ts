import { LABEL_SERVICE } from '../../adapters/docker-types.js';
import type { ContainerDetails } from '../../adapters/docker-types.js';
import type { DockerClients } from '../../adapters/docker/index.js';
import type { ServiceSpec } from '../../manifests/kinds/service.js';
import type { Resource } from '../../manifests/resource.js';
import type { SecretSource } from '../../manifests/secrets.js';
import type { DurableState } from '../../state/durable-state.js';
import type { DockerInfra } from '../infra.js';
import type { Ownership } from '../ownership.js';
import { resourceKey, type PlannedAction, type ReconcileContext, type ReconcileResult, type LegacyReconciler } from '../types.js';
import { volumeDockerName } from '../volume-names.js';
import { buildContainerConfig } from './container-config.js';
import { ImageManager } from './image.js';
import { dependencySatisfied, planService, type ServiceAction } from './plan.js';
import { DEFAULT_RESTART_BACKOFF, NO_RESTARTS, recordRestart, restartDelay, type RestartBackoffPolicy, type RestartRecord } from './restart-backoff.js';
import type { ServiceMetrics } from './service-metrics.js';

export interface ServiceReconcilerOptions {
  docker: DockerClients;
  own: Ownership;
  infra: DockerInfra;
  secrets: SecretSource;
  state: DurableState;
  metrics: ServiceMetrics;
  restartBackoff?: RestartBackoffPolicy;
}

/** While a service is up but not yet healthy, look again this often (health events usually come first). */
const HEALTH_POLL_MS = 5000;

/**
 * Keeps one container per declared Service running, healthy and matching its spec; heals crashes
 * with crash-loop backoff; honours dependsOn on every start; removes containers of services no
 * longer declared. Only containers carrying this agent's labels are ever touched.
 */
export class ServiceReconciler implements LegacyReconciler {
  readonly kind = 'Service';
  private readonly backoffPolicy: RestartBackoffPolicy;
  private readonly images: ImageManager;

  constructor(private readonly o: ServiceReconcilerOptions) {
    this.backoffPolicy = o.restartBackoff ?? DEFAULT_RESTART_BACKOFF;
    this.images = new ImageManager(o.docker.images);
  }

  async listOwned(): Promise<string[]> {
    const list = await this.o.docker.containers.list(this.o.own.selector());
    return [...new Set(list.map((c) => c.labels[LABEL_SERVICE]).filter((s): s is string => !!s))];
  }

  async plan(name: string, ctx: ReconcileContext): Promise<PlannedAction[]> {
    const svc = ctx.desired.get('Service', name);
    const { actions } = await this.observeAndPlan(name, svc, ctx, undefined);
    // A recreate is one line in a plan, not a remove plus a create.
    return actions.filter((a) => !(a.type === 'remove' && a.reason === 'spec changed')).map((a) => toPlanned(name, a));
  }

  async reconcile(name: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const key = resourceKey('Service', name);
    const svc = ctx.desired.get('Service', name);
    if (svc) {
      this.o.metrics.declare(name);
      for (const n of svc.spec.networks) await this.o.infra.ensureNetwork(ctx.desired, n.name);
      for (const v of svc.spec.volumes) if (v.type === 'volume') await this.o.infra.ensureVolume(ctx.desired, v.source);
    }
    const imageId = svc ? await this.images.ensure(svc, ctx.log) : undefined;
    const { actions, config, containers } = await this.observeAndPlan(name, svc, ctx, imageId);

    let requeueAfterMs: number | undefined;
    for (const action of actions) {
      const r = await this.apply(name, svc, action, config, containers, ctx);
      if (r !== undefined) requeueAfterMs = Math.min(requeueAfterMs ?? r, r);
    }

    if (!svc) {
      ctx.status.remove(key);
      this.o.metrics.forget(name);
      this.o.state.delete('restarts', name);
      this.o.state.delete('created', name);
      return {};
    }
    const current = await this.current(name);
    const ready = !!current?.running && (current.health === undefined || current.health === 'healthy') && current.labels['io.certitrack.spec-hash'] === config?.hash;
    this.report(name, current, ready, actions, ctx);
    if (requeueAfterMs === undefined && current?.running && current.health === 'starting') requeueAfterMs = HEALTH_POLL_MS;
    const pending = actions.some((a) => a.type === 'wait');
    return requeueAfterMs === undefined ? { pending } : { requeueAfterMs, pending };
  }

  private async observeAndPlan(name: string, svc: Resource<ServiceSpec> | undefined, ctx: ReconcileContext, imageId: string | undefined) {
    const summaries = await this.o.docker.containers.list(this.o.own.selector({ [LABEL_SERVICE]: name }));
    const containers = (await Promise.all(summaries.map((s) => this.o.docker.containers.inspect(s.id)))).filter((c): c is ContainerDetails => !!c);
    if (!svc) return { actions: planService({ containers, restartDelayMs: 0, previouslyCreated: false }), containers, config: undefined };

    const config = buildContainerConfig(svc, this.o.own, this.o.secrets, this.o.state.hashKey, imageId ?? (await this.o.docker.images.id(svc.spec.image)), (v) =>
      volumeDockerName(this.o.own, ctx.desired, v),
    );
    const waitingFor = await this.unsatisfiedDependency(svc, ctx);
    const rec = this.o.state.get<RestartRecord>('restarts', name) ?? NO_RESTARTS;
    const last = containers.find((c) => c.labels['io.certitrack.spec-hash'] === config.hash);
    const ranFor = ranForOf(last);
    const actions = planService({
      desired: { hash: config.hash, restartPolicy: svc.spec.restartPolicy },
      containers,
      waitingFor,
      restartDelayMs: restartDelay(rec, ranFor, ctx.now().getTime(), this.backoffPolicy),
      previouslyCreated: this.o.state.get<string>('created', name) === config.hash,
    });
    return { actions, config, containers };
  }

  private async unsatisfiedDependency(svc: Resource<ServiceSpec>, _ctx: ReconcileContext): Promise<string | undefined> {
    for (const dep of svc.spec.dependsOn) {
      const c = await this.o.docker.containers.inspect(this.o.own.dockerName(dep.service));
      if (!c || !this.o.own.owns(c.labels) || !dependencySatisfied(c, dep.condition)) return `${dep.service} to be ${dep.condition}`;
    }
    return undefined;
  }

  private async apply(
    name: string,
    svc: Resource<ServiceSpec> | undefined,
    action: ServiceAction,
    config: ReturnType<typeof buildContainerConfig> | undefined,
    containers: readonly ContainerDetails[],
    ctx: ReconcileContext,
  ): Promise<number | undefined> {
    // No explicit grace: Docker then uses the StopTimeout each container was created with, i.e. the
    // stopGracePeriod of the spec it runs (the new spec's may differ, and a removed service has none).
    switch (action.type) {
      case 'wait':
        ctx.log.debug({ reason: action.reason }, 'waiting');
        return action.retryAfterMs;
      case 'remove': {
        ctx.log.info({ container: action.containerId.slice(0, 12), reason: action.reason }, 'removing container');
        await this.o.docker.containers.stop(action.containerId);
        await this.o.docker.containers.remove(action.containerId);
        return undefined;
      }
      case 'create': {
        if (!svc || !config) return undefined;
        if (action.isRestart) this.countRestart(name, 'removed', undefined, ctx);
        ctx.log.info({ reason: action.reason, image: svc.spec.image }, 'creating container');
        const id = await this.o.docker.containers.create(config.create);
        for (const n of config.extraNetworks) await this.o.docker.networks.connect(n.network, id, n.aliases);
        this.o.state.set('created', name, config.hash);
        await this.o.docker.containers.start(id);
        return undefined;
      }
      case 'start': {
        const c = containers.find((x) => x.id === action.containerId);
        if (action.isRestart) this.countRestart(name, 'exited', ranForOf(c), ctx);
        ctx.log.info({ reason: action.reason }, action.isRestart ? 'restarting exited container' : 'starting container');
        if (config) this.o.state.set('created', name, config.hash);
        await this.o.docker.containers.start(action.containerId);
        return undefined;
      }
      case 'restart': {
        this.countRestart(name, 'unhealthy', undefined, ctx);
        ctx.log.warn({ reason: action.reason }, 'restarting unhealthy container');
        await this.o.docker.containers.stop(action.containerId);
        await this.o.docker.containers.start(action.containerId);
        return undefined;
      }
    }
  }

  private countRestart(name: string, reason: 'exited' | 'unhealthy' | 'removed', ranForMs: number | undefined, ctx: ReconcileContext): void {
    const rec = this.o.state.get<RestartRecord>('restarts', name) ?? NO_RESTARTS;
    this.o.state.set('restarts', name, recordRestart(rec, ranForMs, ctx.now().getTime(), this.backoffPolicy));
    this.o.metrics.restarts.labels(name, reason).inc();
  }

  private async current(name: string): Promise<ContainerDetails | undefined> {
    const c = await this.o.docker.containers.inspect(this.o.own.dockerName(name));
    return c && this.o.own.owns(c.labels) ? c : undefined;
  }

  private report(name: string, c: ContainerDetails | undefined, ready: boolean, actions: ServiceAction[], ctx: ReconcileContext): void {
    const key = resourceKey('Service', name);
    const rec = this.o.state.get<RestartRecord>('restarts', name) ?? NO_RESTARTS;
    this.o.metrics.up.labels(name).set(c?.running ? 1 : 0);
    this.o.metrics.ready.labels(name).set(ready ? 1 : 0);
    const waiting = actions.find((a) => a.type === 'wait');
    const reason = ready ? 'Running' : waiting ? 'Waiting' : !c ? 'Missing' : !c.running ? 'Exited' : c.health === 'unhealthy' ? 'Unhealthy' : c.health === 'starting' ? 'Starting' : 'Updating';
    const message = ready ? '' : waiting ? waiting.reason : c && !c.running ? `exited with code ${c.exitCode}` : '';
    ctx.status.setCondition(key, 'Ready', ready ? 'True' : 'False', reason, message);
    ctx.status.setDetails(key, {
      container: c?.name,
      containerId: c?.id.slice(0, 12),
      state: c?.state ?? 'missing',
      health: c?.health ?? null,
      startedAt: c?.startedAt?.toISOString(),
      restarts: rec.restarts,
      specHash: c?.labels['io.certitrack.spec-hash'],
    });
  }
}

function ranForOf(c: ContainerDetails | undefined): number | undefined {
  return c?.startedAt && c.finishedAt && c.finishedAt > c.startedAt ? c.finishedAt.getTime() - c.startedAt.getTime() : undefined;
}

function toPlanned(name: string, a: ServiceAction): PlannedAction {
  const action = a.type === 'create' && a.reason === 'spec changed' ? 'recreate' : a.type;
  return { kind: 'Service', name, action, reason: a.reason };
}
