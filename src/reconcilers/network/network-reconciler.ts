import type { DockerClients } from '../../adapters/docker/index.js';
import { LABEL_NETWORK } from '../../adapters/docker-types.js';
import type { ApplyContext, ReconcileResult, Reconciler } from '../../engine/reconcile.js';
import type { NetworkSpec } from '../../manifests/kinds/network.js';
import type { Resource } from '../../manifests/resource.js';
import type { DurableState } from '../../state/durable-state.js';
import type { Ownership } from '../ownership.js';
import { type NetworkAction, type NetworkObservation, plan, type Reconnect } from './plan.js';

/** State section: containers a network recreate took off and has not put back yet, per network. */
const RECONNECT_SECTION = 'networkReconnects';

/**
 * Keeps declared networks as declared and removes undeclared ones once empty. Only this kind
 * creates networks; a Service whose network does not exist yet waits for it (and is woken by the
 * `applied` event this reconcile emits).
 */
export class NetworkReconciler implements Reconciler<'Network', NetworkObservation, NetworkAction> {
  readonly kind = 'Network' as const;

  constructor(
    private readonly docker: Pick<DockerClients, 'networks' | 'containers'>,
    private readonly own: Ownership,
    private readonly state: DurableState,
  ) {}

  async listOwned(): Promise<string[]> {
    return (await this.docker.networks.list(this.own.selector())).map((n) => n.labels[LABEL_NETWORK]).filter((n): n is string => !!n);
  }

  async observe(name: string): Promise<NetworkObservation> {
    const dockerName = this.own.dockerName(name);
    const networks = (await this.docker.networks.list(this.own.selector({ [LABEL_NETWORK]: name }))).filter((n) => n.name === dockerName);
    return { dockerName, networks, pendingReconnects: this.state.get<Reconnect[]>(RECONNECT_SECTION, name) ?? [] };
  }

  plan(desired: Resource<NetworkSpec> | undefined, observed: NetworkObservation): NetworkAction[] {
    return plan(desired, observed);
  }

  async apply(actions: readonly NetworkAction[], ctx: ApplyContext<NetworkObservation>): Promise<ReconcileResult> {
    const { networks } = this.docker;
    const { dockerName } = ctx.observed;
    let requeueAfterMs: number | undefined;
    for (const a of actions) {
      switch (a.action) {
        case 'create':
          ctx.log.info({ network: dockerName }, 'creating network');
          await networks.create(dockerName, this.labels(ctx.name, a.labels), a.internal);
          break;
        case 'remove':
          ctx.log.info({ network: dockerName, reason: a.reason }, 'removing network');
          await networks.remove(a.networkId);
          break;
        case 'recreate': {
          // Remember who to put back before taking anyone off, so a crash half-way loses no one.
          const reconnect = await this.aliasesOf(a.attached, dockerName);
          this.state.set(RECONNECT_SECTION, ctx.name, reconnect);
          await this.state.flush();
          ctx.log.warn({ network: dockerName, containers: a.attached.map((c) => c.name), reason: a.reason }, 'recreating network; its containers lose it for a moment');
          for (const c of a.attached) await networks.disconnect(a.networkId, c.id);
          await networks.remove(a.networkId);
          await networks.create(dockerName, this.labels(ctx.name, a.labels), a.internal);
          await this.reconnect(ctx.name, dockerName, reconnect);
          break;
        }
        case 'update':
          await networks.create(dockerName, this.labels(ctx.name, ctx.desired.get('Network', ctx.name)?.spec.labels ?? {}), ctx.desired.get('Network', ctx.name)?.spec.internal ?? false);
          await this.reconnect(ctx.name, dockerName, a.reconnect);
          break;
        case 'wait':
          ctx.status.setCondition(ctx.key, 'Ready', 'False', 'Draining', a.reason);
          requeueAfterMs = a.retryAfterMs;
          break;
      }
    }
    if (!ctx.desired.get('Network', ctx.name)) {
      if (requeueAfterMs === undefined) ctx.status.remove(ctx.key);
      return requeueAfterMs === undefined ? {} : { requeueAfterMs };
    }
    ctx.status.setCondition(ctx.key, 'Ready', 'True', 'Created');
    ctx.status.setDetails(ctx.key, { dockerName });
    return {};
  }

  private labels(name: string, extra: Readonly<Record<string, string>>): Record<string, string> {
    return { ...extra, ...this.own.selector({ [LABEL_NETWORK]: name }) };
  }

  private async aliasesOf(attached: readonly { id: string }[], dockerName: string): Promise<Reconnect[]> {
    const out: Reconnect[] = [];
    for (const c of attached) {
      const details = await this.docker.containers.inspect(c.id);
      // Docker adds the short container id as an alias by itself; giving it back is harmless.
      if (details) out.push({ containerId: c.id, aliases: details.aliases[dockerName] ?? [], links: details.links[dockerName] ?? [] });
    }
    return out;
  }

  private async reconnect(name: string, dockerName: string, list: readonly Reconnect[]): Promise<void> {
    for (const r of list) {
      if (await this.docker.containers.inspect(r.containerId)) await this.docker.networks.connect(dockerName, r.containerId, r.aliases, r.links);
    }
    this.state.delete(RECONNECT_SECTION, name);
  }
}
