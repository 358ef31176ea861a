import { CronJob } from 'kubernetes-models/batch/v1';
import type { RunJobSpec, ScheduleSpec } from '../../manifests/kinds/schedule.js';
import type { Resource } from '../../manifests/resource.js';
import type { ExportContext } from './context.js';
import { cronJobSpec, jobPodSpec } from './job.js';
import { NAME_LABEL } from './labels.js';
import { kubeName } from './names.js';
import { networkLabels } from './network.js';
import { container, envVars, PodVolumes, runAs, volumeMounts } from './pod.js';
import { serviceContainer } from './service-pod.js';

/**
 * A Schedule is a CronJob. A `run` job maps directly; an `exec` job cannot enter a running
 * container in Kubernetes, so it runs in a new pod of the Service's image, which the export says.
 * A failed run is not retried (backoffLimit 0), as the agent does not retry one either.
 */
export function exportSchedules(ctx: ExportContext): void {
  for (const sched of ctx.state.list('Schedule')) {
    const name = ctx.claim('CronJob', kubeName(sched.name), sched);
    if (name === undefined) continue;
    const pod = new PodVolumes();
    const built = sched.spec.exec ? execContainer(ctx, sched, pod) : runContainer(ctx, sched, sched.spec.run as RunJobSpec, pod);
    if (!built) continue;
    ctx.add(
      sched,
      new CronJob({
        metadata: { name },
        spec: cronJobSpec(sched.spec, { backoffLimit: 0, podLabels: { [NAME_LABEL]: name, ...built.labels }, pod: jobPodSpec(ctx, [built.container], pod) }),
      }),
    );
  }
}

function runContainer(ctx: ExportContext, sched: Resource<ScheduleSpec>, run: RunJobSpec, pod: PodVolumes) {
  return {
    container: container({
      name: 'job',
      image: run.image,
      pullPolicy: run.pullPolicy,
      entrypoint: run.entrypoint,
      command: run.command,
      workingDir: run.workingDir,
      env: envVars(ctx, sched, ['spec', 'run', 'env'], run.env),
      volumeMounts: volumeMounts(ctx, sched, ['spec', 'run', 'volumes'], run.volumes, pod),
      securityContext: runAs(ctx, sched, run.user),
    }),
    labels: networkLabels(ctx, run.networks),
  };
}

function execContainer(ctx: ExportContext, sched: Resource<ScheduleSpec>, pod: PodVolumes) {
  const job = sched.spec.exec;
  const svc = job ? ctx.state.get('Service', job.service) : undefined;
  if (!job || !svc) return undefined;
  ctx.warn(
    sched,
    `exec in ${svc.name}: runs in a new pod of ${svc.name}'s image (${svc.spec.image}) with its environment and volumes, not inside the running container, so it sees none of that container's processes or files outside its volumes`,
  );
  return { container: serviceContainer(ctx, svc, pod, { schedule: sched, job }), labels: networkLabels(ctx, svc.spec.networks.map((n) => n.name)) };
}
