import { resolve } from 'node:path';
import type { DockerClients } from '../../adapters/docker/index.js';
import { LABEL_CONTEXT_HASH, LABEL_SERVICE, LABEL_SPEC_HASH, type ContainerDetails } from '../../adapters/docker-types.js';
import { type AgentEvent, type ApplyContext, parseResourceKey, type ReconcileResult, type Reconciler, resourceKey, TerminalError } from '../../engine/reconcile.js';
import type { DesiredState } from '../../manifests/desired-state.js';
import { rolloutStrategy, type ServiceSpec } from '../../manifests/kinds/service.js';
import type { Resource } from '../../manifests/resource.js';
import { resolveValue, type SecretSource } from '../../manifests/secrets.js';
import type { DurableState } from '../../state/durable-state.js';
import { KeyedMutex } from '../../util/keyed-mutex.js';
import type { Ownership } from '../ownership.js';
import { desiredContainer, type DesiredContainer, withSecretEnv } from './container-spec.js';
import { MOUNTS_SECTION } from './mounted-files.js';
import { CREATED_SECTION, observeService, RESTARTS_SECTION, type ServiceObservation } from './observe.js';
import { isServing, plan, READY_POLL_MS, ranForOf, type ServiceAction } from './plan.js';
import { DEFAULT_RESTART_BACKOFF, NO_RESTARTS, recordRestart, type RestartBackoffPolicy, type RestartRecord } from './restart-backoff.js';
import { RolloutSteps, type RolloutScope } from './rollout-steps.js';
import type { ServiceMetrics } from './service-metrics.js';
import type { ServiceHolds } from '../../state/service-holds.js';

export interface ServiceReconcilerOptions {
  docker: Pick<DockerClients, 'containers' | 'images' | 'networks' | 'volumes'>;
  own: Ownership;
  secrets: SecretSource;
  state: DurableState;
  metrics: ServiceMetrics;
  restartBackoff?: RestartBackoffPolicy;
  /** pullPolicy Always re-pulls (or rebuilds) at most this often, however often reconciles run. */
  imageRefreshMs?: number;
  /** Services a restore has stopped on purpose (state dir holds/): not healed meanwhile. */
  holds?: ServiceHolds;
  now?: () => number;
}

/** While a service is up but not yet healthy, look again this often (health events usually come first). */
const HEALTH_POLL_MS = 5000;

/** Actions after which the service answers on a new address, so followers re-resolve it. */
// rollback: after the switch, followers must forget the new container's address again.
const MOVES: ReadonlySet<ServiceAction['type']> = new Set(['create', 'replace', 'start', 'restart', 'rollback']);
/** Actions after which the service has not converged yet: another reconcile has work to do. */
const PENDING: ReadonlySet<ServiceAction['type']> = new Set(['wait', 'start-new', 'cutover', 'rollback']);

/**
 * Keeps one container per declared Service running, healthy and matching its spec; rolls a changed
 * spec out (StartFirst or StopFirst, health-gated, rolled back or reported when it fails); heals
 * crashes with crash-loop backoff; honours dependsOn on every start; removes containers of
 * services no longer declared. Only containers carrying this agent's labels are ever touched.
 */
export class ServiceReconciler implements Reconciler<'Service', ServiceObservation, ServiceAction> {
  readonly kind = 'Service' as const;
  /** An image build may take minutes; the default deadline would cut it off and start it again. */
  readonly timeoutMs = 30 * 60_000;
  private readonly backoffPolicy: RestartBackoffPolicy;
  /** Work on one image tag is serialised, so services sharing a built image build it once. */
  private readonly imageLocks = new KeyedMutex();
  private readonly refreshedAt = new Map<string, number>();
  private readonly rollouts: RolloutSteps;

  constructor(private readonly o: ServiceReconcilerOptions) {
    this.backoffPolicy = o.restartBackoff ?? DEFAULT_RESTART_BACKOFF;
    this.rollouts = new RolloutSteps({ containers: o.docker.containers, own: o.own, state: o.state, metrics: o.metrics });
  }

  async listOwned(): Promise<string[]> {
    const list = await this.o.docker.containers.list(this.o.own.selector());
    return [...new Set(list.map((c) => c.labels[LABEL_SERVICE]).filter((s): s is string => !!s))];
  }

  observe(name: string, ctx: { desired: DesiredState }): Promise<ServiceObservation> {
    return observeService({ ...this.o, refreshedAt: this.refreshedAt }, name, ctx.desired);
  }

  plan(desired: Resource<ServiceSpec> | undefined, observed: ServiceObservation, now: Date): ServiceAction[] {
    return plan(desired, observed, now, { own: this.o.own, backoff: this.backoffPolicy, refreshMs: this.o.imageRefreshMs ?? 5 * 60_000 });
  }

  /**
   * A container event concerns its service and every service that depends on it (waiting on its
   * start or health); a network or volume that was just created concerns the services using it.
   */
  mapEvent(event: AgentEvent, desired: DesiredState): string[] {
    const services = desired.list('Service');
    if (event.type === 'container') {
      const service = event.labels[LABEL_SERVICE];
      if (!service) return [];
      return [resourceKey('Service', service), ...services.filter((s) => s.spec.dependsOn.some((d) => d.service === service)).map((s) => resourceKey('Service', s.name))];
    }
    if (event.type === 'applied') {
      const { kind, name } = parseResourceKey(event.key);
      if (kind === 'Network') return services.filter((s) => s.spec.networks.some((n) => n.name === name)).map((s) => resourceKey('Service', s.name));
      if (kind === 'Volume') return services.filter((s) => s.spec.volumes.some((v) => v.type === 'volume' && v.source === name)).map((s) => resourceKey('Service', s.name));
    }
    return [];
  }

  /** The last rollouts of a service, newest first (for /status and `history`). */
  history(service: string) {
    return this.rollouts.history(service);
  }

  async apply(actions: readonly ServiceAction[], ctx: ApplyContext<ServiceObservation>): Promise<ReconcileResult> {
    const svc = ctx.desired.get('Service', ctx.name);
    if (svc) this.o.metrics.declare(ctx.name);
    const scope: RolloutScope = { service: ctx.name, key: ctx.key, origin: ctx.desired.origin, status: ctx.status, log: ctx.log, now: ctx.now, signal: ctx.signal };
    let requeueAfterMs: number | undefined;
    for (const action of actions) {
      const after = await this.perform(action, svc, ctx, scope);
      if (after === 'look-again') {
        // The image changed under the plan's feet (built or pulled): plan again against it.
        requeueAfterMs = 0;
        break;
      }
      if (after !== undefined) requeueAfterMs = Math.min(requeueAfterMs ?? after, after);
    }
    if (actions.some((a) => MOVES.has(a.type))) await this.rollouts.reloadFollowers(scope, ctx.observed.followers, 'best-effort');

    if (!svc || !ctx.observed.declared) {
      ctx.status.remove(ctx.key);
      this.o.metrics.forget(ctx.name);
      for (const section of [RESTARTS_SECTION, CREATED_SECTION, MOUNTS_SECTION]) this.o.state.delete(section, ctx.name);
      this.rollouts.forget(ctx.name);
      return {};
    }
    const wanted = desiredContainer(svc, this.o.own, ctx.observed.declared.facts).hash;
    // A container from before content was tracked: what it has now is what it was given.
    if (!ctx.observed.declared.mountedGiven) this.o.state.set(MOUNTS_SECTION, ctx.name, ctx.observed.declared.mounted);
    const current = await this.current(ctx.name);
    const ready = !!current && isServing(current);
    this.report(ctx, current, ready, actions);
    if (requeueAfterMs === undefined && current?.running && !ready) requeueAfterMs = HEALTH_POLL_MS;
    // A rollout waiting only for its settle time has no event to wake it: look again shortly.
    const rollout = ctx.observed.declared.rollout;
    const finished = actions.some((a) => a.type === 'finish-rollout');
    if (requeueAfterMs === undefined && rollout?.toHash === wanted && !rollout.failedAt && !rollout.retryAt && !finished) requeueAfterMs = READY_POLL_MS;
    // Converged only when the wanted spec serves alone; a rollout in flight (an old container still
    // draining after the switch) or held back is pending.
    const pending = requeueAfterMs === 0 || actions.some((a) => PENDING.has(a.type)) || current?.labels[LABEL_SPEC_HASH] !== wanted;
    return requeueAfterMs === undefined ? { pending } : { requeueAfterMs, pending };
  }

  /** One action; returns a requeue delay, 'look-again' after an image change, or nothing. */
  private async perform(action: ServiceAction, svc: Resource<ServiceSpec> | undefined, ctx: ApplyContext<ServiceObservation>, scope: RolloutScope): Promise<number | 'look-again' | undefined> {
    const { containers, images } = this.o.docker;
    const name = ctx.name;
    // No explicit grace: Docker then uses the StopTimeout each container was created with, i.e. the
    // stopGracePeriod of the spec it runs (the new spec's may differ, and a removed service has none).
    switch (action.type) {
      case 'wait':
        if (action.fatal) throw new TerminalError(action.reason);
        ctx.log.debug({ reason: action.reason }, 'waiting');
        return action.retryAfterMs;
      case 'build':
      case 'pull':
        if (!svc) return undefined;
        await this.imageLocks.run(action.image, async () => {
          if (action.type === 'build') {
            // Another service sharing this tag may have built it from the same context meanwhile.
            if ((await images.labels(action.image))?.[LABEL_CONTEXT_HASH] === action.contextHash && action.reason !== 'pullPolicy Always: rebuild due') return;
            ctx.log.info({ image: action.image, reason: action.reason }, 'building image');
            await images.build(resolve(svc.source.dir, action.context), action.dockerfile, action.image, { ...action.args }, { [LABEL_CONTEXT_HASH]: action.contextHash });
          } else {
            ctx.log.info({ image: action.image, reason: action.reason }, 'pulling image');
            await images.pull(action.image);
            if (!(await images.id(action.image))) throw new Error(`image ${action.image} still missing after pull`);
          }
          this.refreshedAt.set(action.image, this.o.now?.() ?? Date.now());
        });
        return 'look-again';
      case 'remove':
        ctx.log.info({ container: action.containerId.slice(0, 12), reason: action.reason }, 'removing container');
        await containers.stop(action.containerId);
        await containers.remove(action.containerId);
        return undefined;
      case 'replace':
        if (!svc || action.predicted) return undefined;
        for (const id of action.replace) {
          ctx.log.info({ container: id.slice(0, 12), reason: action.reason, changes: action.changes.map((c) => c.path) }, 'replacing container');
          await containers.stop(id);
          await containers.remove(id);
        }
        await this.createAndStart(svc, action.container, ctx);
        this.rollouts.started(scope, action.container.hash, action.fromHash, rolloutStrategy(svc.spec));
        return undefined;
      case 'start-new':
        if (!svc) return undefined;
        ctx.log.info({ container: action.container.create.name, changes: action.changes.map((c) => c.path) }, 'starting the new version beside the old one');
        await this.createAndStart(svc, action.container, ctx);
        this.rollouts.started(scope, action.container.hash, action.fromHash, 'StartFirst');
        return READY_POLL_MS;
      case 'cutover':
        return await this.rollouts.beginDrain(scope, action.toHash, action.oldIds, action.renames, action.drainMs, action.followers);
      case 'finish-cutover':
        await this.rollouts.finishCutover(scope, action.oldIds, action.renames, action.followers);
        return undefined;
      case 'rollback':
        ctx.log.warn({ container: action.containerId.slice(0, 12), failure: action.failure }, 'rolling back: removing the new container');
        await this.rollouts.rollback(scope, action.containerId, action.failure, action.renames);
        return undefined;
      case 'reload': {
        ctx.log.info({ changes: action.changes.map((c) => c.path) }, 'reloading in place');
        const res = await containers.exec(action.containerId, [...action.command], { signal: ctx.signal });
        if (res.exitCode !== 0) throw new Error(`reload (${action.command.join(' ')}) exited ${res.exitCode}: ${res.outputTail.trim().split('\n').slice(-3).join(' | ')}`);
        this.o.state.set(MOUNTS_SECTION, name, ctx.observed.declared?.mounted ?? {});
        return undefined;
      }
      case 'rename':
        await containers.rename(action.containerId, action.name);
        return undefined;
      case 'finish-rollout':
        this.rollouts.finished(scope, action.result, action.reason);
        return undefined;
      case 'create':
        if (!svc || action.predicted) return undefined;
        if (action.isRestart) this.countRestart(name, 'removed', undefined, ctx.now());
        // Recreating a container that disappeared is a heal, at warn like every crash restart.
        ctx.log[action.isRestart ? 'warn' : 'info']({ reason: action.reason, image: svc.spec.image }, 'creating container');
        await this.createAndStart(svc, action.container, ctx);
        if (!action.isRestart) this.rollouts.started(scope, action.container.hash, undefined, rolloutStrategy(svc.spec));
        return undefined;
      case 'start': {
        const c = ctx.observed.containers.find((x) => x.id === action.containerId);
        if (action.isRestart) {
          this.countRestart(name, 'exited', ranForOf(c), ctx.now());
          ctx.log.warn({ reason: action.reason }, 'restarting exited container');
        } else ctx.log.info({ reason: action.reason }, 'starting container');
        const hash = c?.labels[LABEL_SPEC_HASH];
        if (hash) this.o.state.set(CREATED_SECTION, name, hash);
        await containers.start(action.containerId);
        return undefined;
      }
      case 'restart':
        this.countRestart(name, 'unhealthy', undefined, ctx.now());
        ctx.log.warn({ reason: action.reason }, 'restarting unhealthy container');
        await containers.stop(action.containerId);
        await containers.start(action.containerId);
        return undefined;
    }
  }

  /** Secrets are resolved here, and only here: the one moment they meet the container's config. */
  private async createAndStart(svc: Resource<ServiceSpec>, container: DesiredContainer, ctx: ApplyContext<ServiceObservation>): Promise<void> {
    const create = withSecretEnv(container, (env) => {
      const value = svc.spec.env[env];
      if (value === undefined) throw new Error(`env ${env}: not declared`);
      try {
        return resolveValue(value, this.o.secrets, svc.source.dir);
      } catch (err) {
        throw new Error(`env ${env}: ${(err as Error).message}`);
      }
    });
    const id = await this.o.docker.containers.create(create);
    for (const n of container.extraNetworks) await this.o.docker.networks.connect(n.network, id, n.aliases, n.links);
    this.o.state.set(CREATED_SECTION, ctx.name, container.hash);
    // What this container was given: a later change of these files is a reload (or a new container).
    this.o.state.set(MOUNTS_SECTION, ctx.name, ctx.observed.declared?.mounted ?? {});
    await this.o.docker.containers.start(id);
  }

  private countRestart(name: string, reason: 'exited' | 'unhealthy' | 'removed', ranForMs: number | undefined, now: Date): void {
    const rec = this.o.state.get<RestartRecord>(RESTARTS_SECTION, name) ?? NO_RESTARTS;
    this.o.state.set(RESTARTS_SECTION, name, recordRestart(rec, ranForMs, now.getTime(), this.backoffPolicy));
    this.o.metrics.restarts.labels(name, reason).inc();
  }

  /** The container serving under the service's name (during a StartFirst rollout, still the old one). */
  private async current(name: string): Promise<ContainerDetails | undefined> {
    const c = await this.o.docker.containers.inspect(this.o.own.dockerName(name));
    return c && this.o.own.owns(c.labels) ? c : undefined;
  }

  private report(ctx: ApplyContext<ServiceObservation>, c: ContainerDetails | undefined, ready: boolean, actions: readonly ServiceAction[]): void {
    const name = ctx.name;
    const rec = this.o.state.get<RestartRecord>(RESTARTS_SECTION, name) ?? NO_RESTARTS;
    this.o.metrics.up.labels(name).set(c?.running ? 1 : 0);
    this.o.metrics.ready.labels(name).set(ready ? 1 : 0);
    const waiting = actions.find((a) => a.type === 'wait');
    const reason = ready ? 'Running' : waiting ? 'Waiting' : !c ? 'Missing' : !c.running ? 'Exited' : c.health === 'unhealthy' ? 'Unhealthy' : 'Starting';
    const message = ready ? '' : waiting ? waiting.reason : c && !c.running ? `exited with code ${c.exitCode}` : '';
    ctx.status.setCondition(ctx.key, 'Ready', ready ? 'True' : 'False', reason, message);
    ctx.status.setDetails(ctx.key, {
      container: c?.name,
      containerId: c?.id.slice(0, 12),
      state: c?.state ?? 'missing',
      health: c?.health ?? null,
      startedAt: c?.startedAt?.toISOString(),
      restarts: rec.restarts,
      specHash: c?.labels[LABEL_SPEC_HASH],
      rollouts: this.rollouts.history(name),
    });
  }
}
