import { LABEL_VOLUME } from '../adapters/docker-types.js';
import type { DockerClients } from '../adapters/docker/index.js';
import type { DockerInfra } from './infra.js';
import type { Ownership } from './ownership.js';
import { resourceKey, type PlannedAction, type ReconcileContext, type ReconcileResult, type LegacyReconciler } from './types.js';
import { volumeDockerName } from './volume-names.js';

/**
 * Creates declared volumes. A volume no longer declared is reported as orphaned and left alone:
 * data is not the agent's to drop (`docker volume rm` it by hand). An external volume is never
 * created or removed, only checked to exist under its real name.
 */
export class VolumeReconciler implements LegacyReconciler {
  readonly kind = 'Volume';

  constructor(
    private readonly docker: DockerClients,
    private readonly own: Ownership,
    private readonly infra: DockerInfra,
  ) {}

  async listOwned(): Promise<string[]> {
    return (await this.docker.volumes.list(this.own.selector())).map((v) => v.labels[LABEL_VOLUME]).filter((n): n is string => !!n);
  }

  async plan(name: string, ctx: ReconcileContext): Promise<PlannedAction[]> {
    const vol = ctx.desired.get('Volume', name);
    if (vol?.spec.external) {
      const dockerName = volumeDockerName(this.own, ctx.desired, name);
      if (await this.docker.volumes.exists(dockerName)) return [];
      return [{ kind: this.kind, name, action: 'wait', reason: `external volume ${dockerName} does not exist; create it with docker volume create ${dockerName}` }];
    }
    const exists = await this.exists(name);
    const declared = !!vol;
    if (declared && !exists) return [{ kind: this.kind, name, action: 'create', reason: 'not created yet' }];
    if (!declared && exists) return [{ kind: this.kind, name, action: 'skip', reason: 'no longer declared; volumes are never deleted automatically' }];
    return [];
  }

  async reconcile(name: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const key = resourceKey(this.kind, name);
    const vol = ctx.desired.get('Volume', name);
    if (vol?.spec.external) {
      const dockerName = volumeDockerName(this.own, ctx.desired, name);
      ctx.status.setDetails(key, { dockerName, external: true });
      await this.infra.checkExternalVolume(name, dockerName);
      ctx.status.setCondition(key, 'Ready', 'True', 'External', `mounted by its real name ${dockerName}; never created or removed by the agent`);
      return {};
    }
    if (vol) {
      await this.infra.ensureVolume(ctx.desired, name);
      ctx.status.setCondition(key, 'Ready', 'True', 'Created');
    } else {
      ctx.status.setCondition(key, 'Ready', 'False', 'Orphaned', `no longer declared; kept. Remove by hand with: docker volume rm ${this.own.dockerName(name)}`);
    }
    ctx.status.setDetails(key, { dockerName: this.own.dockerName(name) });
    return {};
  }

  private async exists(name: string): Promise<boolean> {
    return (await this.docker.volumes.list(this.own.selector({ [LABEL_VOLUME]: name }))).some((v) => v.name === this.own.dockerName(name));
  }
}
