import { isAbsolute, resolve } from 'node:path';
import type { ScheduleSpec } from '../kinds/schedule.js';
import type { Resource } from '../resource.js';
import type { CheckContext } from './check-context.js';

/** Cross-document rules: the Service, networks, volumes, secrets and bind paths a job names exist. */
export function checkSchedules(ctx: CheckContext): void {
  for (const s of ctx.state.list('Schedule') as Resource<ScheduleSpec>[]) {
    const { exec, run } = s.spec;
    if (exec && !ctx.state.get('Service', exec.service)) ctx.report(s, ['spec', 'exec', 'service'], `service "${exec.service}" is not declared`);
    const env = exec?.env ?? run?.env ?? {};
    const envPath = exec ? 'exec' : 'run';
    for (const [name, value] of Object.entries(env)) {
      if (typeof value === 'object' && 'secretRef' in value && !ctx.secretDefined(value.secretRef))
        ctx.report(s, ['spec', envPath, 'env', name], `secret ${value.secretRef} is not defined in the secrets file or the agent's environment`);
      if (typeof value === 'object' && 'file' in value) {
        const path = isAbsolute(value.file) ? value.file : resolve(s.source.dir, value.file);
        if (!ctx.pathExists(path)) ctx.report(s, ['spec', envPath, 'env', name], `secret file ${path} does not exist`);
      }
    }
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
