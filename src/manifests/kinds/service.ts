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
      source: z.string().min(1).describe('A declared Volume, or a host path (absolute, or starting with . and relative to the manifest file) for a bind mount.'),
      target: z.string().startsWith('/', 'expected an absolute path inside the container').describe('Where it is mounted in the container (an absolute path).'),
      readOnly: z.boolean().default(false).describe('Mount read-only.'),
    })
    .transform(
      (v): VolumeMount => ({ ...v, type: v.source.startsWith('/') || v.source.startsWith('.') ? 'bind' : 'volume' }),
    ),
]);

const networkAttachment = z.union([
  resourceName.transform((name) => ({ name, aliases: [] as string[] })),
  z.strictObject({
    name: resourceName.describe('A declared Network.'),
    aliases: z.array(z.string().min(1)).default([]).describe('More names the service answers to on this network, besides its own.'),
  }),
]);

const dependency = z.union([
  resourceName.transform((service) => ({ service, condition: 'started' as const })),
  z.strictObject({
    service: resourceName.describe('A declared Service.'),
    condition: z.enum(['started', 'healthy']).default('started').describe('started: its container runs; healthy: its healthcheck passes (it must declare one).'),
  }),
]);

const commandLine = z.union([z.string().min(1).transform((s) => ['/bin/sh', '-c', s]), z.array(z.string()).min(1)]);

const healthcheck = z
  .strictObject({
    command: commandLine.optional().describe('Run inside the container; exit 0 means healthy. A list, or a string run through /bin/sh -c.'),
    http: z
      .strictObject({
        port: z.number().int().min(1).max(65535).describe('The container port to GET.'),
        path: z.string().startsWith('/').default('/').describe('The path to GET.'),
      })
      .optional()
      .describe('An HTTP GET from inside the container (wget or curl must exist in the image); a success status means healthy.'),
    interval: duration.prefault('10s').describe('Time between checks.'),
    timeout: duration.prefault('5s').describe('How long one check may take before it counts as failed.'),
    retries: z.number().int().min(1).max(100).default(3).describe('Failures in a row before the container is unhealthy.'),
    startPeriod: duration.prefault('0s').describe('Time after start during which failures do not count.'),
  })
  .refine((h) => (h.command === undefined) !== (h.http === undefined), {
    message: 'set exactly one of command or http',
  });

export const ROLLOUT_STRATEGIES = ['StartFirst', 'StopFirst'] as const;
export type RolloutStrategy = (typeof ROLLOUT_STRATEGIES)[number];

const positiveDuration = duration.refine((ms) => ms > 0, { message: 'expected a duration greater than zero' });

const rollout = z
  .strictObject({
    strategy: z
      .enum(ROLLOUT_STRATEGIES)
      .optional()
      .describe(
        'StartFirst: the new container starts beside the old one, takes over once ready, and the old one drains. StopFirst: the old one stops first. ' +
          'Default: StartFirst, unless the service publishes host ports or mounts a named volume read-write.',
      ),
    progressDeadline: positiveDuration.prefault('5m').describe('How long a new container has to become ready before the rollout counts as failed.'),
    drain: duration.prefault('5s').describe('How long the old container keeps serving after the new one took over, before it is stopped.'),
  })
  .prefault({})
  .describe('How a changed spec replaces the running container.');

const SIGNALS = ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT', 'SIGWINCH'] as const;

/** A graceful in-place reload: a command run in the container, or a signal to its PID 1. */
const reload = z.union([
  z.strictObject({ exec: z.array(z.string().min(1)).min(1).describe('A command run in the container, as a list.') }),
  z.strictObject({ signal: z.enum(SIGNALS).describe("A signal sent to the container's PID 1.") }),
]);
export type ServiceReload = z.output<typeof reload>;

const build = z.strictObject({
  context: z.string().min(1).describe('The build context: a directory relative to the manifest file.'),
  dockerfile: z.string().min(1).default('Dockerfile').describe('The Dockerfile, relative to the context.'),
  args: stringMap.default({}).describe('Build arguments (ARG values).'),
});

const PULL_POLICY = 'IfNotPresent: pull (or build) only when the image is missing; Always: before every container it creates; Never: the image must exist locally.';
const COMMAND_LINE = 'a list, or a string run through /bin/sh -c.';
const ENV = 'Environment variables: NAME: value (a string, number or boolean), NAME: { secretRef: KEY } or NAME: { file: PATH }.';
const VOLUMES =
  '"VOLUME:/path[:ro]" (a declared Volume) or "./host/path:/path[:ro]" / "/abs:/path" (a bind mount, relative to the manifest file); or { source, target, readOnly }.';

export const serviceSpec = z.strictObject({
  image: z.string().min(1).regex(/^[^\s]+$/, 'image references contain no spaces').describe('The image to run; with build, the tag the built image gets.'),
  build: build.optional().describe("Build the image locally; rebuilt when it is missing or the context's content changes."),
  pullPolicy: z.enum(['IfNotPresent', 'Always', 'Never']).default('IfNotPresent').describe(PULL_POLICY),
  command: commandLine.optional().describe(`Replaces the image's CMD: ${COMMAND_LINE}`),
  entrypoint: commandLine.optional().describe(`Replaces the image's ENTRYPOINT: ${COMMAND_LINE}`),
  workingDir: z.string().startsWith('/').optional().describe("The working directory in the container (absolute); default: the image's."),
  user: z.string().min(1).optional().describe("The user (and group) the process runs as, as docker run --user; default: the image's."),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*$/, 'expected an environment variable name'), valueOrSecret).default({}).describe(ENV),
  ports: z
    .array(port)
    .default([])
    .describe('Host ports to publish: "HOST:CONTAINER" or "IP:HOST:CONTAINER", optionally /udp. Without an IP Docker publishes on every interface: prefer 127.0.0.1.'),
  volumes: z.array(volumeMount).default([]).describe(VOLUMES),
  networks: z
    .array(networkAttachment)
    .default([])
    .describe("Declared Networks to join: names, or { name, aliases }. The service's name is always an alias. Empty: Docker's default bridge."),
  dependsOn: z
    .array(dependency)
    .default([])
    .describe('Services started first: names, or { service, condition: started | healthy }. Honoured on every start, not only the first.'),
  healthcheck: healthcheck.optional().describe("How Docker checks the container: exactly one of command or http. Omitted: the image's own HEALTHCHECK, if it has one."),
  restartPolicy: z
    .enum(['Always', 'OnFailure', 'Never'])
    .default('Always')
    .describe('When the container is restarted after its process exits: Always, OnFailure (a non-zero exit code or OOM) or Never.'),
  rollout,
  reload: reload
    .optional()
    .describe(
      'How the service picks up a change without a new container: { exec: [...] } run in it, or { signal } to its PID 1. ' +
        'Used when a file it bind-mounts from the manifests folder changes, and when a service it depends on moves to a new container.',
    ),
  stopGracePeriod: duration.prefault('10s').describe('Time between the stop signal and SIGKILL.'),
  init: z
    .boolean()
    .default(false)
    .describe("Run Docker's init as PID 1: it forwards signals and reaps zombies, so a process that ignores SIGTERM still stops."),
  stopSignal: z
    .string()
    .regex(/^(SIG[A-Z0-9]+|[0-9]{1,2})$/, 'expected a signal name such as SIGTERM or SIGQUIT, or its number')
    .optional()
    .describe("The signal that asks the process to stop, e.g. SIGQUIT for nginx's graceful stop; default: the image's STOPSIGNAL, else SIGTERM."),
  expose: z
    .array(z.number().int().min(1).max(65535))
    .default([])
    .describe("Container ports other services reach over a network, published on no host port (compose's expose)."),
  resources: z
    .strictObject({
      memory: byteSize.optional().describe('Memory limit: 512Mi, 1Gi, 256m (binary units) or bytes; default: unlimited.'),
      cpus: z.number().positive().max(1024).optional().describe('CPU limit in cores, e.g. 0.5; default: unlimited.'),
    })
    .default({})
    .describe('Limits on what the container may use.'),
  labels: stringMap.default({}).describe('Extra labels on the container.'),
  logging: z
    .strictObject({
      maxSize: z
        .string()
        .regex(/^\d+[kmg]$/, 'expected a size such as 10m (json-file max-size)')
        .default('10m')
        .describe('Size at which the log file is rotated: a number with k, m or g.'),
      maxFile: z.number().int().min(1).max(100).default(3).describe('How many rotated log files are kept.'),
    })
    .default({ maxSize: '10m', maxFile: 3 })
    .describe("Rotation of the container's json-file log."),
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
