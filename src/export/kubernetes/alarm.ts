import { effectiveAlarmName } from '../../manifests/kinds/alarm.js';
import type { ExportContext } from './context.js';

/** An Alarm that stays in CloudWatch, for the export's README. */
export interface KeptAlarm {
  name: string;
  alarmName: string;
  file: string;
  metric: string;
}

/**
 * Alarms are not exported: a CloudWatch alarm does not depend on where containers run, and the
 * alarms the agent made stay in CloudWatch as they are. The export lists them (and warns) so that
 * nobody assumes the cluster now owns them.
 */
export function keptAlarms(ctx: ExportContext): KeptAlarm[] {
  return ctx.state.list('Alarm').map((alarm) => {
    ctx.warn(alarm, 'stays in CloudWatch and is not exported (see "Alarms" in README.md)');
    const spec = alarm.spec;
    const metric = spec.metric ? `${spec.metric.namespace}/${spec.metric.name}` : `metric math (${spec.metrics?.length ?? 0} queries)`;
    return { name: alarm.name, alarmName: effectiveAlarmName(alarm.name, spec), file: alarm.source.file, metric };
  });
}
