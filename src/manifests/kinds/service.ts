import { z } from 'zod';
import { byteSize, duration, resourceName, stringMap, valueOrSecret } from './common.js';

const PORT = /^(?:(?<ip>\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(?<host>\d{1,5}):(?<container>\d{1,5})(?:\/(?<proto>tcp|udp))?$/;

export interface PortMapping {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

export function parsePort(text: string): PortMapping | undefined {
  const m = PORT.exec(text);
  if (!m?.groups) return undefined;
  const hostPort = Number(m.groups.host);
  const containerPort = Number(m.groups.container);
  if (hostPort < 1 || hostPort > 65535 || containerPort < 1 || containerPort > 65535) return undefined;
  return {
    hostIp: (m.groups.ip ?? '0.0.0.0').replace(/^\[|\]$/g, ''),
    hostPort,
    containerPort,
    protocol: (m.groups.proto as 'tcp' | 'udp' | undefined) ?? 'tcp',
  };
}

const port = z
  .string()
  .refine((s) => parsePort(s) !== undefined, { message: 'expected HOST:CONTAINER or IP:HOST:CONTAINER, optionally /tcp or /udp' })
  .transform((s) => parsePort(s) as PortMapping);

export interface VolumeMount {
  /** A declared Volume's name, or an absolute/relative host path for a bind mount. */
  source: string;
  target: string;
  readOnly: boolean;
  type: 'volume' | 'bind';
}

export function parseVolumeMount(text: string): VolumeMount | undefined {
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3) return undefined;
  const [source, target, mode] = parts as [string, string, string | undefined];
  if (!source || !target.startsWith('/')) return undefined;
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') return undefined;
  const type = source.startsWith('/') || source.startsWith('.') ? 'bind' : 'volume';
  if (type === 'volume' && !/^[a-z0-9][-a-z0-9_]*$/.test(source)) return undefined;
  return { source, target, readOnly: mode === 'ro', type };
}

const volumeMount = z.union([
  z
    .string()
    .refine((s) => parseVolumeMount(s) !== undefined, {
      message: 'expected VOLUME:/container/path[:ro] or ./host/path:/container/path[:ro]',
    })
    .transform((s) => parseVolumeMount(s) as VolumeMount),
  z
    .strictObject({
      source: z.string().min(1),
      target: z.string().startsWith('/', 'expected an absolute path inside the container'),
      readOnly: z.boolean().default(false),
    })
    .transform(
      (v): VolumeMount => ({ ...v, type: v.source.startsWith('/') || v.source.startsWith('.') ? 'bind' : 'volume' }),
    ),
]);

const networkAttachment = z.union([
  resourceName.transform((name) => ({ name, aliases: [] as string[] })),
  z.strictObject({ name: resourceName, aliases: z.array(z.string().min(1)).default([]) }),
]);

const dependency = z.union([
  resourceName.transform((service) => ({ service, condition: 'started' as const })),
  z.strictObject({ service: resourceName, condition: z.enum(['started', 'healthy']).default('started') }),
]);

const commandLine = z.union([z.string().min(1).transform((s) => ['/bin/sh', '-c', s]), z.array(z.string()).min(1)]);

const healthcheck = z
  .strictObject({
    /** Run inside the container; exit 0 means healthy. A string runs through /bin/sh -c. */
    command: commandLine.optional(),
    /** An HTTP GET from inside the container (wget or curl must exist in the image). */
    http: z
      .strictObject({
        port: z.number().int().min(1).max(65535),
        path: z.string().startsWith('/').default('/'),
      })
      .optional(),
    interval: duration.default(10_000),
    timeout: duration.default(5_000),
    retries: z.number().int().min(1).max(100).default(3),
    startPeriod: duration.default(0),
  })
  .refine((h) => (h.command === undefined) !== (h.http === undefined), {
    message: 'set exactly one of command or http',
  });

export const ROLLOUT_STRATEGIES = ['StartFirst', 'StopFirst'] as const;
export type RolloutStrategy = (typeof ROLLOUT_STRATEGIES)[number];

const positiveDuration = duration.refine((ms) => ms > 0, { message: 'expected a duration greater than zero' });

const rollout = z
  .strictObject({
    /**
     * StartFirst: the new container starts beside the old one, takes over once ready, and the old
     * one drains. StopFirst: the old one stops first. Default: StartFirst unless the service
     * publishes host ports or mounts a named volume read-write (see docs/design.md).
     */
    strategy: z.enum(ROLLOUT_STRATEGIES).optional(),
    /** How long a new container has to become ready before the rollout counts as failed. */
    progressDeadline: positiveDuration.default(5 * 60_000),
    /** How long the old container keeps serving after the new one took over, before it is stopped. */
    drain: duration.default(5_000),
  })
  .default({ progressDeadline: 5 * 60_000, drain: 5_000 });

const SIGNALS = ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT', 'SIGWINCH'] as const;

/** A graceful in-place reload: a command run in the container, or a signal to its PID 1. */
const reload = z.union([
  z.strictObject({ exec: z.array(z.string().min(1)).min(1) }),
  z.strictObject({ signal: z.enum(SIGNALS) }),
]);
export type ServiceReload = z.output<typeof reload>;

const build = z.strictObject({
  /** Directory with the Dockerfile, relative to the manifest file. */
  context: z.string().min(1),
  dockerfile: z.string().min(1).default('Dockerfile'),
  args: stringMap.default({}),
});

export const serviceSpec = z.strictObject({
  image: z.string().min(1).regex(/^[^\s]+$/, 'image references contain no spaces'),
  build: build.optional(),
  pullPolicy: z.enum(['IfNotPresent', 'Always', 'Never']).default('IfNotPresent'),
  command: commandLine.optional(),
  entrypoint: commandLine.optional(),
  workingDir: z.string().startsWith('/').optional(),
  user: z.string().min(1).optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*$/, 'expected an environment variable name'), valueOrSecret).default({}),
  ports: z.array(port).default([]),
  volumes: z.array(volumeMount).default([]),
  networks: z.array(networkAttachment).default([]),
  dependsOn: z.array(dependency).default([]),
  healthcheck: healthcheck.optional(),
  restartPolicy: z.enum(['Always', 'OnFailure', 'Never']).default('Always'),
  rollout,
  /**
   * How the service picks up a change without a new container: run when a file it bind-mounts from
   * the manifests folder changes, and when a service it depends on moves to a new container.
   */
  reload: reload.optional(),
  stopGracePeriod: duration.default(10_000),
  /** Docker's init as PID 1: forwards signals and reaps zombies, so a process that ignores SIGTERM still stops. */
  init: z.boolean().default(false),
  /** The signal that asks the process to stop (the image's STOPSIGNAL, else SIGTERM). */
  stopSignal: z
    .string()
    .regex(/^(SIG[A-Z0-9]+|[0-9]{1,2})$/, 'expected a signal name such as SIGTERM or SIGQUIT, or its number')
    .optional(),
  /** Container ports other services reach over a network, published on no host port (compose's `expose`). */
  expose: z.array(z.number().int().min(1).max(65535)).default([]),
  resources: z
    .strictObject({
      memory: byteSize.optional(),
      cpus: z.number().positive().max(1024).optional(),
    })
    .default({}),
  labels: stringMap.default({}),
  logging: z
    .strictObject({
      maxSize: z.string().regex(/^\d+[kmg]$/, 'expected a size such as 10m (json-file max-size)').default('10m'),
      maxFile: z.number().int().min(1).max(100).default(3),
    })
    .default({ maxSize: '10m', maxFile: 3 }),
});

export type ServiceSpec = z.output<typeof serviceSpec>;
export type HealthcheckSpec = NonNullable<ServiceSpec['healthcheck']>;

/** Why a service cannot run two containers at once, or undefined when it can. */
export function startFirstBlocker(spec: Pick<ServiceSpec, 'ports' | 'volumes'>): string | undefined {
  const port = spec.ports[0];
  if (port) return `it publishes host port ${port.hostIp}:${port.hostPort}, which two containers cannot bind at once`;
  const rw = spec.volumes.find((v) => v.type === 'volume' && !v.readOnly);
  if (rw) return `it mounts volume ${rw.source} read-write, and two processes writing one data volume (a database) corrupt it`;
  return undefined;
}

/** The strategy a rollout uses: the declared one, else the safe default for this service. */
export const rolloutStrategy = (spec: Pick<ServiceSpec, 'ports' | 'volumes' | 'rollout'>): RolloutStrategy =>
  spec.rollout.strategy ?? (startFirstBlocker(spec) ? 'StopFirst' : 'StartFirst');
