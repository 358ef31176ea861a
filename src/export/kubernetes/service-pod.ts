import type { IContainer, IEnvVar } from 'kubernetes-models/v1';
import type { ExecJobSpec } from '../../manifests/kinds/schedule.js';
import type { ServiceSpec } from '../../manifests/kinds/service.js';
import type { Resource } from '../../manifests/resource.js';
import type { ExportContext } from './context.js';
import { kubeName } from './names.js';
import { container, envVars, type PodVolumes, resources, runAs, volumeMounts } from './pod.js';

/** A Schedule's exec job, run as a new container of the Service's image. */
export interface ExecIn {
  schedule: Resource;
  job: ExecJobSpec;
}

/**
 * The container of a Service: image, command, environment, user, volumes and resources. With
 * `exec`, the container a Schedule's exec job gets instead: the same image, environment and
 * volumes (what `docker exec` sees), the job's command run as is, its env, user and workingDir
 * taking precedence.
 */
export function serviceContainer(ctx: ExportContext, svc: Resource<ServiceSpec>, pod: PodVolumes, exec?: ExecIn): IContainer {
  const spec = svc.spec;
  let env = envVars(ctx, svc, ['spec', 'env'], spec.env);
  if (exec) {
    const overrides = envVars(ctx, exec.schedule, ['spec', 'exec', 'env'], exec.job.env);
    const names = new Set(overrides.map((e) => e.name));
    env = [...env.filter((e: IEnvVar) => !names.has(e.name)), ...overrides];
  }
  const user = exec?.job.user ?? spec.user;
  return {
    ...container({
      name: kubeName(svc.name),
      image: spec.image,
      pullPolicy: spec.pullPolicy,
      entrypoint: exec ? exec.job.command : spec.entrypoint,
      command: exec ? undefined : spec.command,
      workingDir: exec?.job.workingDir ?? spec.workingDir,
      env,
      volumeMounts: volumeMounts(ctx, svc, ['spec', 'volumes'], spec.volumes, pod),
      securityContext: runAs(ctx, exec && exec.job.user !== undefined ? exec.schedule : svc, user),
    }),
    ...(resources(spec.resources) ? { resources: resources(spec.resources) } : {}),
  };
}
