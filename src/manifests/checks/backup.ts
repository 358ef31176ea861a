import type { BackupSpec } from '../kinds/backup.js';
import type { Resource } from '../resource.js';
import type { CheckContext } from './check-context.js';

/** Cross-document rules: the Service, Network and Volume a source names are declared (secrets and host paths: secret-values.ts, host-access.ts). */
export function checkBackups(ctx: CheckContext): void {
  for (const b of ctx.state.list('Backup') as Resource<BackupSpec>[]) {
    b.spec.sources.forEach((s, i) => {
      if ('postgres' in s) {
        const { service, network } = s.postgres;
        if (service !== undefined && !ctx.state.get('Service', service)) ctx.report(b, ['spec', 'sources', i, 'postgres', 'service'], `service "${service}" is not declared`);
        if (network !== undefined && !ctx.state.get('Network', network)) ctx.report(b, ['spec', 'sources', i, 'postgres', 'network'], `network "${network}" is not declared`);
      }
      const vol = 'volume' in s ? ctx.state.get('Volume', s.volume.name) : undefined;
      if ('volume' in s && !vol) ctx.report(b, ['spec', 'sources', i, 'volume', 'name'], `volume "${s.volume.name}" is not declared`);
      // Volume sources are mounted by the agent's own names only.
      if ('volume' in s && vol?.spec.external)
        ctx.report(b, ['spec', 'sources', i, 'volume', 'name'], `volume "${s.volume.name}" is external; Backup volume sources take only volumes the agent owns`);
    });
  }
}
