import { effectiveAlarmName, type AlarmSpec } from '../kinds/alarm.js';
import type { CheckContext } from './check-context.js';

/** Two resources must not claim the same CloudWatch alarm: each would overwrite the other forever. */
export function checkAlarms(ctx: CheckContext): void {
  const seen = new Map<string, string>();
  for (const r of ctx.state.list('Alarm')) {
    const spec = r.spec as AlarmSpec;
    const name = effectiveAlarmName(r.name, spec);
    const first = seen.get(name);
    if (first) ctx.report(r, spec.alarmName ? ['spec', 'alarmName'] : ['metadata', 'name'], `alarm name "${name}" is already used by Alarm "${first}"`);
    else seen.set(name, r.name);
  }
}
