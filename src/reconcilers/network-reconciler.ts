import { LABEL_NETWORK } from '../adapters/docker-types.js';
import type { DockerClients } from '../adapters/docker/index.js';
import type { DockerInfra } from './infra.js';
import type { Ownership } from './ownership.js';
import { resourceKey, type PlannedAction, type ReconcileContext, type ReconcileResult, type LegacyReconciler } from './types.js';

/** Creates declared networks; removes owned ones no longer declared once no container uses them. */
export class NetworkReconciler implements LegacyReconciler {
  readonly kind = 'Network';

  constructor(
    private readonly docker: DockerClients,
    private readonly own: Ownership,
    private readonly infra: DockerInfra,
  ) {}

  async listOwned(): Promise<string[]> {
    return (await this.docker.networks.list(this.own.selector())).map((n) => n.labels[LABEL_NETWORK]).filter((n): n is string => !!n);
  }

  async plan(name: string, ctx: ReconcileContext): Promise<PlannedAction[]> {
    const existing = await this.find(name);
    const declared = !!ctx.desired.get('Network', name);
    if (declared && !existing) return [{ kind: this.kind, name, action: 'create', reason: 'not created yet' }];
    if (!declared && existing) return [{ kind: this.kind, name, action: 'remove', reason: 'no longer declared' }];
    return [];
  }

  async reconcile(name: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const key = resourceKey(this.kind, name);
    if (ctx.desired.get('Network', name)) {
      await this.infra.ensureNetwork(ctx.desired, name);
      ctx.status.setCondition(key, 'Ready', 'True', 'Created');
      ctx.status.setDetails(key, { dockerName: this.own.dockerName(name) });
      return {};
    }
    const existing = await this.find(name);
    if (!existing) {
      ctx.status.remove(key);
      return {};
    }
    if (existing.containers > 0) {
      // Services being removed in the same pass still hold it; look again shortly.
      ctx.status.setCondition(key, 'Ready', 'False', 'Draining', `${existing.containers} container(s) still attached`);
      return { requeueAfterMs: 2000 };
    }
    ctx.log.info({ network: existing.name }, 'removing network no longer declared');
    await this.docker.networks.remove(existing.id);
    ctx.status.remove(key);
    return {};
  }

  private async find(name: string) {
    return (await this.docker.networks.list(this.own.selector({ [LABEL_NETWORK]: name }))).find((n) => n.name === this.own.dockerName(name));
  }
}
