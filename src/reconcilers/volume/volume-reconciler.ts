import type { VolumeClient } from '../../adapters/docker/index.js';
import { LABEL_VOLUME } from '../../adapters/docker-types.js';
import type { ApplyContext, ReconcileResult, Reconciler } from '../../engine/reconcile.js';
import type { VolumeSpec } from '../../manifests/kinds/volume.js';
import type { Resource } from '../../manifests/resource.js';
import type { DesiredState } from '../../manifests/desired-state.js';
import type { Ownership } from '../ownership.js';
import { volumeDockerName } from './volume-names.js';
import { plan, type VolumeAction, type VolumeObservation } from './plan.js';

/**
 * Creates declared volumes. A volume no longer declared is reported as orphaned and left alone:
 * data is not the agent's to drop (`docker volume rm` it by hand).
 */
export class VolumeReconciler implements Reconciler<'Volume', VolumeObservation, VolumeAction> {
  readonly kind = 'Volume' as const;

  constructor(
    private readonly volumes: VolumeClient,
    private readonly own: Ownership,
  ) {}

  async listOwned(): Promise<string[]> {
    return (await this.volumes.list(this.own.selector())).map((v) => v.labels[LABEL_VOLUME]).filter((n): n is string => !!n);
  }

  async observe(name: string, ctx: { desired: DesiredState }): Promise<VolumeObservation> {
    if (ctx.desired.get('Volume', name)?.spec.external) {
      const dockerName = volumeDockerName(this.own, ctx.desired, name);
      return { dockerName, exists: await this.volumes.exists(dockerName), external: true };
    }
    const dockerName = this.own.dockerName(name);
    return { dockerName, exists: (await this.volumes.list(this.own.selector({ [LABEL_VOLUME]: name }))).some((v) => v.name === dockerName) };
  }

  plan(desired: Resource<VolumeSpec> | undefined, observed: VolumeObservation): VolumeAction[] {
    return plan(desired, observed);
  }

  async apply(actions: readonly VolumeAction[], ctx: ApplyContext<VolumeObservation>): Promise<ReconcileResult> {
    const { dockerName } = ctx.observed;
    for (const a of actions) {
      if (a.action === 'create') {
        ctx.log.info({ volume: dockerName }, 'creating volume');
        await this.volumes.create(dockerName, { ...a.labels, ...this.own.selector({ [LABEL_VOLUME]: ctx.name }) });
      }
      if (a.action === 'wait') {
        ctx.log.warn({ volume: dockerName }, a.reason);
        ctx.status.setCondition(ctx.key, 'Ready', 'False', 'Missing', a.reason);
        ctx.status.setDetails(ctx.key, { dockerName, external: true });
        return { requeueAfterMs: a.retryAfterMs, pending: true };
      }
    }
    if (ctx.observed.external) ctx.status.setCondition(ctx.key, 'Ready', 'True', 'External', `mounted by its real name ${dockerName}; never created or removed by the agent`);
    else if (ctx.desired.get('Volume', ctx.name)) ctx.status.setCondition(ctx.key, 'Ready', 'True', 'Created');
    else if (ctx.observed.exists) ctx.status.setCondition(ctx.key, 'Ready', 'False', 'Orphaned', `no longer declared; kept. Remove by hand with: docker volume rm ${dockerName}`);
    else {
      ctx.status.remove(ctx.key);
      return {};
    }
    ctx.status.setDetails(ctx.key, { dockerName, ...(ctx.observed.external ? { external: true } : {}) });
    return {};
  }
}
