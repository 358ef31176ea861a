import type { IAffinity, IContainer, IPodSpec } from 'kubernetes-models/v1';
import type { ScheduleFieldsSpec } from '../../manifests/kinds/schedule-fields.js';
import type { ExportContext } from './context.js';
import { NAME_LABEL } from './labels.js';
import { kubeName } from './names.js';
import { POD_DEFAULTS, type PodVolumes } from './pod.js';
import { seconds } from './units.js';

/** A CronJob's spec from the timing fields Schedule and Backup share; they mean what a CronJob's do. */
export function cronJobSpec(timing: ScheduleFieldsSpec, job: { backoffLimit: number; podLabels: Record<string, string>; pod: IPodSpec }) {
  return {
    schedule: timing.schedule,
    timeZone: timing.timeZone,
    concurrencyPolicy: timing.concurrencyPolicy,
    ...(timing.startingDeadline !== undefined ? { startingDeadlineSeconds: seconds(timing.startingDeadline, 1) } : {}),
    ...(timing.suspend ? { suspend: true } : {}),
    successfulJobsHistoryLimit: timing.historyLimit,
    failedJobsHistoryLimit: timing.historyLimit,
    jobTemplate: {
      spec: {
        activeDeadlineSeconds: seconds(timing.timeout, 1),
        backoffLimit: job.backoffLimit,
        template: { metadata: { labels: job.podLabels }, spec: job.pod },
      },
    },
  };
}

/** A job's pod: never restarted in place (the Job's backoffLimit decides), placed beside what shares its volumes. */
export function jobPodSpec(ctx: ExportContext, containers: IContainer[], pod: PodVolumes): IPodSpec {
  const affinity = besideVolumeUsers(ctx, pod.claims());
  return {
    ...POD_DEFAULTS,
    restartPolicy: 'Never',
    containers,
    ...(pod.list().length > 0 ? { volumes: pod.list() } : {}),
    ...(affinity ? { affinity } : {}),
  };
}

/**
 * A ReadWriteOnce claim is attached to one node at a time; a job that mounts the claim of a
 * running service must run on that service's node, or it would wait forever for the attachment.
 */
function besideVolumeUsers(ctx: ExportContext, claims: string[]): IAffinity | undefined {
  const users = ctx.state
    .list('Service')
    .filter((s) => s.spec.volumes.some((v) => v.type === 'volume' && claims.includes(kubeName(v.source))))
    .map((s) => kubeName(s.name));
  if (users.length === 0) return undefined;
  return {
    podAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchExpressions: [{ key: NAME_LABEL, operator: 'In', values: users.sort() }] }, topologyKey: 'kubernetes.io/hostname' },
      ],
    },
  };
}
