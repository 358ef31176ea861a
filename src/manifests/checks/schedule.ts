import type { ScheduleSpec } from '../kinds/schedule.js';
import type { Resource } from '../resource.js';
import type { CheckContext } from './check-context.js';

/** Cross-document rules: the Service, networks and volumes a job names exist (secrets and host paths: secret-values.ts, host-access.ts). */
export function checkSchedules(ctx: CheckContext): void {
  for (const s of ctx.state.list('Schedule') as Resource<ScheduleSpec>[]) {
    const { exec, run } = s.spec;
    if (exec && !ctx.state.get('Service', exec.service)) ctx.report(s, ['spec', 'exec', 'service'], `service "${exec.service}" is not declared`);
    if (!run) continue;
    run.networks.forEach((n, i) => {
      if (!ctx.state.get('Network', n)) ctx.report(s, ['spec', 'run', 'networks', i], `network "${n}" is not declared`);
    });
    run.volumes.forEach((v, i) => {
      const vol = v.type === 'volume' ? ctx.state.get('Volume', v.source) : undefined;
      if (v.type === 'volume' && !vol) ctx.report(s, ['spec', 'run', 'volumes', i], `volume "${v.source}" is not declared`);
      // One-off job containers mount volumes by the agent's own names only.
      if (vol?.spec.external) ctx.report(s, ['spec', 'run', 'volumes', i], `volume "${v.source}" is external; only Services can mount external volumes`);
    });
  }
}
