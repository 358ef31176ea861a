import { resolve } from 'node:path';
import { parseListen, type ListenAddress } from './server/listen-address.js';
import type { AwsConfig } from './aws/context.js';
import { parseDuration } from './util/duration.js';
import { DEFAULT_DOCKER_SOCKET, type DockerEndpoint, dockerEndpointFrom } from './adapters/docker/docker-host.js';

/** Everything the agent can be told, from flags or environment; see README "Configuration". */
export interface AgentConfig {
  manifestsDir: string;
  stateDir: string;
  secretsFile: string | undefined;
  listen: ListenAddress;
  /** Prefix of every Docker object name and the value of the instance label. */
  instance: string;
  /** The engine: DOCKER_HOST as the docker CLI reads it (unix:// or tcp://), else the default socket. */
  docker: DockerEndpoint;
  /** The engine's Unix socket, which no manifest may bind-mount (the default one when the engine is on TCP). */
  dockerSocket: string;
  resyncMs: number;
  concurrency: number;
  allowEmpty: boolean;
  restartBackoffBaseMs: number;
  restartBackoffMaxMs: number;
  logLevel: string;
  /** Manifests from a git branch instead of a local folder (the checkout then replaces manifestsDir). */
  git: GitSourceConfig | undefined;
  /** Shared secret for POST /hooks/git (env CERTITRACK_WEBHOOK_SECRET); no webhook without it. */
  webhookSecret: string | undefined;
  /** Region, endpoint override and bootstrap stack; without a region AWS-backed kinds are Disabled. */
  aws: AwsConfig;
  /** Probed once a minute for the HealthCheck metric (the seed's nginx /health). */
  healthUrl: string | undefined;
  /** File systems whose use is published (CloudWatch agent's disk_used_percent). */
  diskPaths: string[];
  /**
   * An image already on the engine to create the (never started) container that volume backups
   * read and write through; unset: the image of a container that mounts the volume, else the
   * agent's own image, else any local image. Never pulled.
   */
  helperImage: string | undefined;
  /**
   * Where the PostgreSQL tools of network sources (`postgres: { host }`) run: `container` (a
   * one-off container of the agent's image, the default on a host) or `local` (this process's own
   * pg_dump, as in the agent's image; env CERTITRACK_POSTGRES_CLIENT).
   */
  postgresClient: 'container' | 'local';
  /** The host policy file (--policy, env CERTITRACK_POLICY); undefined: /etc/certitrack/policy.yaml if it exists. */
  policyFile: string | undefined;
  /** Host names the TCP listener answers besides its own address (--allowed-host, env CERTITRACK_ALLOWED_HOSTS). */
  allowedHosts: string[];
  /** Environment variables secretRef may read (--secret-env, env CERTITRACK_SECRET_ENV), besides the policy's. */
  secretEnv: string[];
  /** Validation warnings (a secret too short to scrub safely) are errors. */
  strict: boolean;
}

export interface GitSourceConfig {
  url: string;
  branch: string;
  pollIntervalMs: number;
  subdir: string | undefined;
  credentialsFile: string | undefined;
}

export const DEFAULTS = {
  stateDir: '/var/lib/certitrack-agent',
  listen: '127.0.0.1:9464',
  instance: 'certitrack',
  dockerSocket: DEFAULT_DOCKER_SOCKET,
  resyncMs: 5 * 60_000,
  concurrency: 4,
  restartBackoffBaseMs: 10_000,
  restartBackoffMaxMs: 300_000,
} as const;

/** pino's levels: what --log-level and LOG_LEVEL accept. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** A log level from a flag or LOG_LEVEL; anything else is an error naming the valid ones. */
export function logLevelFrom(value: string, from: string): string {
  if ((LOG_LEVELS as readonly string[]).includes(value)) return value;
  throw new Error(`${from}: "${value}" is not a log level; use one of ${LOG_LEVELS.join(', ')}`);
}

export interface GitFlags {
  gitUrl?: string;
  gitBranch?: string;
  gitPoll?: string;
  gitSubdir?: string;
  gitCredentials?: string;
}

/** Git source settings from flags, falling back to the variables install.sh writes to agent.env. */
export function gitConfigFrom(flags: GitFlags, env: NodeJS.ProcessEnv = process.env): GitSourceConfig | undefined {
  const url = flags.gitUrl ?? env.CERTITRACK_MANIFESTS_GIT_URL;
  if (!url) return undefined;
  const poll = flags.gitPoll ?? env.CERTITRACK_MANIFESTS_POLL_INTERVAL ?? '60s';
  const pollIntervalMs = parseDuration(poll);
  if (pollIntervalMs === undefined || pollIntervalMs < 1000) throw new Error(`--git-poll: "${poll}" is not a duration of at least 1s`);
  const creds = flags.gitCredentials ?? env.CERTITRACK_MANIFESTS_GIT_CREDENTIALS;
  return {
    url,
    branch: flags.gitBranch ?? env.CERTITRACK_MANIFESTS_GIT_BRANCH ?? 'main',
    pollIntervalMs,
    subdir: flags.gitSubdir ?? env.CERTITRACK_MANIFESTS_GIT_SUBDIR,
    credentialsFile: creds ? resolve(creds) : undefined,
  };
}

/** A repeatable flag's values, or the comma-separated environment variable's. */
function list(v: unknown, fromEnv: string | undefined): string[] {
  if (Array.isArray(v)) return v.map(String);
  return (fromEnv ?? '').split(',').map((x) => x.trim()).filter(Boolean);
}

/** What EC2 instance ids look like (8 or 17 hex digits after `i-`). */
const INSTANCE_ID = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;

/**
 * The instance id for `InstanceId: auto` when IMDS cannot tell it (off EC2, or IMDS disabled):
 * `--aws-instance-id`, else CERTITRACK_AWS_INSTANCE_ID. On EC2 it overrides what IMDS says.
 */
export function awsInstanceIdFrom(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = flag ?? (env.CERTITRACK_AWS_INSTANCE_ID || undefined);
  if (value === undefined) return undefined;
  const where = flag !== undefined ? '--aws-instance-id' : 'CERTITRACK_AWS_INSTANCE_ID';
  if (!INSTANCE_ID.test(value)) throw new Error(`${where}: "${value}" is not an EC2 instance id (i- and 8 or 17 hex digits, e.g. i-0123456789abcdef0)`);
  return value;
}

function postgresClientOf(v: unknown): AgentConfig['postgresClient'] {
  if (v === undefined || v === '' || v === 'container') return 'container';
  if (v === 'local') return 'local';
  throw new Error(`CERTITRACK_POSTGRES_CLIENT: "${String(v)}" is not container or local`);
}

/** An explicit socket (tests) wins; otherwise the engine DOCKER_HOST names. */
function dockerOf(socket: unknown, env: NodeJS.ProcessEnv): Pick<AgentConfig, 'docker' | 'dockerSocket'> {
  const docker = typeof socket === 'string' && socket !== '' ? { socketPath: socket } : dockerEndpointFrom(env);
  return { docker, dockerSocket: 'socketPath' in docker ? docker.socketPath : DEFAULT_DOCKER_SOCKET };
}

export function configFrom(opts: Partial<Record<keyof AgentConfig, unknown>> & { manifestsDir: string; awsInstanceId?: string }, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const str = (v: unknown, fallback: string): string => (typeof v === 'string' && v !== '' ? v : fallback);
  const num = (v: unknown, fallback: number): number => (v === undefined ? fallback : Number(v));
  const instance = str(opts.instance ?? env.CERTITRACK_INSTANCE, DEFAULTS.instance);
  if (!/^[a-z0-9][a-z0-9_.-]*$/.test(instance)) throw new Error(`--instance: "${instance}" is not a valid Docker name prefix`);
  return {
    manifestsDir: resolve(opts.manifestsDir),
    stateDir: resolve(str(opts.stateDir ?? env.CERTITRACK_STATE_DIR, DEFAULTS.stateDir)),
    secretsFile: typeof (opts.secretsFile ?? env.CERTITRACK_SECRETS_FILE) === 'string' ? resolve(String(opts.secretsFile ?? env.CERTITRACK_SECRETS_FILE)) : undefined,
    listen: typeof opts.listen === 'object' && opts.listen !== null ? (opts.listen as ListenAddress) : parseListen(str(opts.listen ?? env.CERTITRACK_LISTEN, DEFAULTS.listen)),
    instance,
    ...dockerOf(opts.dockerSocket, env),
    resyncMs: num(opts.resyncMs, DEFAULTS.resyncMs),
    concurrency: num(opts.concurrency, DEFAULTS.concurrency),
    allowEmpty: opts.allowEmpty === true,
    restartBackoffBaseMs: num(opts.restartBackoffBaseMs, DEFAULTS.restartBackoffBaseMs),
    restartBackoffMaxMs: num(opts.restartBackoffMaxMs, DEFAULTS.restartBackoffMaxMs),
    logLevel: logLevelFrom(str(opts.logLevel ?? env.LOG_LEVEL, 'info'), opts.logLevel !== undefined ? '--log-level' : 'LOG_LEVEL'),
    git: (opts.git as GitSourceConfig | undefined) ?? undefined,
    webhookSecret: typeof opts.webhookSecret === 'string' ? opts.webhookSecret : env.CERTITRACK_WEBHOOK_SECRET || undefined,
    aws: (opts.aws as AwsConfig | undefined) ?? {
      stackName: env.CERTITRACK_STACK_NAME || undefined,
      endpoint: env.CERTITRACK_AWS_ENDPOINT || undefined,
      instanceId: awsInstanceIdFrom(opts.awsInstanceId, env),
    },
    healthUrl: str(opts.healthUrl ?? env.CERTITRACK_HEALTH_URL, '') || undefined,
    helperImage: str(opts.helperImage ?? env.CERTITRACK_HELPER_IMAGE, '') || undefined,
    postgresClient: postgresClientOf(opts.postgresClient ?? env.CERTITRACK_POSTGRES_CLIENT),
    diskPaths: Array.isArray(opts.diskPaths) ? (opts.diskPaths as string[]) : (env.CERTITRACK_DISK_PATHS ?? '/').split(',').filter(Boolean),
    policyFile: typeof (opts.policyFile ?? env.CERTITRACK_POLICY) === 'string' ? resolve(String(opts.policyFile ?? env.CERTITRACK_POLICY)) : undefined,
    allowedHosts: list(opts.allowedHosts, env.CERTITRACK_ALLOWED_HOSTS),
    secretEnv: list(opts.secretEnv, env.CERTITRACK_SECRET_ENV),
    strict: opts.strict === true,
  };
}
