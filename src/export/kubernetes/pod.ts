import type { IContainer, IEnvVar, IProbe, IResourceRequirements, ISecurityContext, IVolume, IVolumeMount } from 'kubernetes-models/v1';
import type { ValueOrSecret } from '../../manifests/kinds/common.js';
import type { HealthcheckSpec, VolumeMount } from '../../manifests/kinds/service.js';
import type { Resource } from '../../manifests/resource.js';
import type { FieldPath } from '../../manifests/source.js';
import type { ExportContext } from './context.js';
import { hostVolume } from './host-files.js';
import { kubeName } from './names.js';
import { cpuQuantity, quantity, seconds } from './units.js';

/** The volumes of one pod, each once; a different volume that wants a taken name gets a numbered one. */
export class PodVolumes {
  private readonly byName = new Map<string, IVolume>();

  add(volume: IVolume): string {
    const wanted = JSON.stringify(volume);
    for (let n = 1; ; n++) {
      const name = n === 1 ? volume.name : `${volume.name.slice(0, 60)}-${n}`;
      const known = this.byName.get(name);
      if (!known) {
        this.byName.set(name, { ...volume, name });
        return name;
      }
      if (JSON.stringify({ ...known, name: volume.name }) === wanted) return name;
    }
  }

  list(): IVolume[] {
    return [...this.byName.values()];
  }

  /** The PersistentVolumeClaims the pod mounts (a job sharing one with a service must run beside it). */
  claims(): string[] {
    return this.list().flatMap((v) => (v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : []));
  }
}

/** Named volumes become their PersistentVolumeClaim; bind mounts go through hostVolume. */
export function volumeMounts(ctx: ExportContext, resource: Resource, basePath: FieldPath, mounts: readonly VolumeMount[], pod: PodVolumes): IVolumeMount[] {
  const out: IVolumeMount[] = [];
  mounts.forEach((m, i) => {
    const readOnly = m.readOnly ? { readOnly: true } : {};
    if (m.type === 'volume') {
      const claimName = kubeName(m.source);
      const name = pod.add({ name: claimName, persistentVolumeClaim: { claimName, ...readOnly } });
      out.push({ name, mountPath: m.target, ...readOnly });
      return;
    }
    const host = hostVolume(ctx, resource, [...basePath, i], m.source);
    if (!host) return;
    const fromObject = host.volume.configMap !== undefined || host.volume.secret !== undefined;
    if (fromObject && !m.readOnly) ctx.warn(resource, `${m.source} is mounted read-only at ${m.target}: ConfigMaps and Secrets cannot be written to from a pod`);
    out.push({ name: pod.add(host.volume), mountPath: m.target, ...(host.subPath ? { subPath: host.subPath } : {}), ...(fromObject ? { readOnly: true } : readOnly) });
  });
  return out;
}

/** Literal values stay literal; secret references read the export's Secret, never a value. */
export function envVars(ctx: ExportContext, resource: Resource, basePath: FieldPath, env: Readonly<Record<string, ValueOrSecret>>): IEnvVar[] {
  const out: IEnvVar[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (typeof value === 'string') {
      out.push({ name, value });
      continue;
    }
    const valueFrom = ctx.secrets.ref(resource, [...basePath, name], value);
    if (valueFrom) out.push({ name, valueFrom });
  }
  return out;
}

/**
 * Docker's healthcheck as both probes: readiness (traffic and `dependsOn: healthy` in spirit) and
 * liveness (the agent restarts an unhealthy container, so does the kubelet). startPeriod, during
 * which Docker does not count failures, delays only liveness: a success still makes it ready.
 */
export function probes(h: HealthcheckSpec): { readinessProbe: IProbe; livenessProbe: IProbe } {
  const check: IProbe = h.http ? { httpGet: { port: h.http.port, path: h.http.path } } : { exec: { command: h.command ?? [] } };
  const timing = { periodSeconds: seconds(h.interval, 1), timeoutSeconds: seconds(h.timeout, 1), failureThreshold: h.retries };
  return {
    readinessProbe: { ...check, ...timing },
    livenessProbe: { ...check, ...timing, ...(h.startPeriod > 0 ? { initialDelaySeconds: seconds(h.startPeriod) } : {}) },
  };
}

/** Docker's --memory and --cpus are limits; requesting the same keeps the pod's share as on the host. */
export function resources(r: { memory?: number | undefined; cpus?: number | undefined }): IResourceRequirements | undefined {
  const amounts: Record<string, string> = {};
  if (r.memory !== undefined) amounts.memory = quantity(r.memory);
  if (r.cpus !== undefined) amounts.cpu = cpuQuantity(r.cpus);
  return Object.keys(amounts).length > 0 ? { requests: { ...amounts }, limits: { ...amounts } } : undefined;
}

/** Docker's `user` (uid, uid:gid, or a name); Kubernetes takes numbers only. */
export function runAs(ctx: ExportContext, resource: Resource, user: string | undefined): ISecurityContext | undefined {
  if (user === undefined) return undefined;
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!m) {
    ctx.warn(resource, `user "${user}" is a name; Kubernetes needs numeric ids (securityContext.runAsUser), so the image's user applies: set the uid`);
    return undefined;
  }
  return { runAsUser: Number(m[1]), ...(m[2] !== undefined ? { runAsGroup: Number(m[2]) } : {}) };
}

/** What every exported container has in common: Docker's entrypoint is Kubernetes' command, Docker's command its args. */
export function container(fields: {
  name: string;
  image: string;
  pullPolicy: 'IfNotPresent' | 'Always' | 'Never';
  entrypoint?: string[] | undefined;
  command?: string[] | undefined;
  workingDir?: string | undefined;
  env: IEnvVar[];
  volumeMounts: IVolumeMount[];
  securityContext?: ISecurityContext | undefined;
}): IContainer {
  return {
    name: fields.name,
    image: fields.image,
    imagePullPolicy: fields.pullPolicy,
    ...(fields.entrypoint ? { command: fields.entrypoint } : {}),
    ...(fields.command ? { args: fields.command } : {}),
    ...(fields.workingDir ? { workingDir: fields.workingDir } : {}),
    ...(fields.env.length > 0 ? { env: fields.env } : {}),
    ...(fields.volumeMounts.length > 0 ? { volumeMounts: fields.volumeMounts } : {}),
    ...(fields.securityContext ? { securityContext: fields.securityContext } : {}),
  };
}

/**
 * Pod-wide settings that keep a pod as close to a Docker container as possible: no service-link
 * environment variables (Kubernetes would add POSTGRES_PORT=tcp://… for a Service named postgres,
 * which clashes with the applications' own variables) and no API token (nothing here talks to the
 * API server).
 */
export const POD_DEFAULTS = { enableServiceLinks: false, automountServiceAccountToken: false } as const;
