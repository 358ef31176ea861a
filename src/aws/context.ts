import { ImdsClient, type InstanceIdentity } from './imds.js';

/** The SDK's `serviceId`s of the clients the agent builds; AWS_ENDPOINT_URL_<ID> is derived from them. */
export type AwsServiceId = 'CloudWatch' | 'CloudFormation' | 'S3' | 'EC2';

/** The `aws:` section of the agent's configuration; everything optional. */
export interface AwsConfig {
  /** Wins over AWS_REGION and over IMDS. */
  region?: string;
  /** One endpoint for every service (an emulator answering everything). */
  endpoint?: string;
  /** Per-service endpoints; win over `endpoint` and over the environment. */
  endpoints?: Partial<Record<AwsServiceId, string>>;
  /** The bootstrap CloudFormation stack whose outputs manifests may reference. */
  stackName?: string;
  /**
   * Overrides the instance id from IMDS: off EC2 (an emulator, a test host) `InstanceId: auto` in an
   * Alarm resolves to this. From `--aws-instance-id` or CERTITRACK_AWS_INSTANCE_ID.
   */
  instanceId?: string;
  /** Set false to skip IMDS entirely (also honoured: AWS_EC2_METADATA_DISABLED=true). */
  imds?: boolean;
}

/**
 * Retries of every AWS call, set here once: the SDK's standard strategy (exponential backoff with
 * full jitter, a client-side retry quota, throttling and 5xx and network errors retried, rejected
 * requests not). Callers add no retry loop of their own on top.
 */
export const AWS_RETRY = { maxAttempts: 3, retryMode: 'standard' } as const;

/** Options every SDK v3 client constructor accepts; spread into `new XxxClient(...)`. */
export interface AwsClientConfig {
  region: string;
  endpoint?: string;
  /** Tries per call, the first included (see {@link AWS_RETRY}). */
  maxAttempts: number;
  retryMode: 'standard' | 'adaptive';
  /**
   * Emulators do not implement the flexible checksums SDK v3 sends by default; with an endpoint
   * override only checksums the API requires are computed and validated.
   */
  requestChecksumCalculation?: 'WHEN_REQUIRED';
  responseChecksumValidation?: 'WHEN_REQUIRED';
}

export interface AwsEnabled {
  readonly enabled: true;
  readonly region: string;
  readonly regionSource: 'config' | 'env' | 'imds';
  /** undefined off EC2 (or with IMDS disabled). */
  readonly identity: InstanceIdentity | undefined;
  /** From config, else from IMDS; undefined when neither knows. */
  readonly instanceId: string | undefined;
  readonly stackName: string | undefined;
  /** The endpoint override in force for a service, if any. */
  endpointFor(service: AwsServiceId): string | undefined;
  /** Construction options for a client of that service: `new CloudWatchClient(ctx.clientConfig('CloudWatch'))`. */
  clientConfig(service: AwsServiceId): AwsClientConfig;
}

export interface AwsDisabled {
  readonly enabled: false;
  /** Why: shown as the Disabled condition of every AWS-backed resource. */
  readonly reason: string;
  readonly identity: InstanceIdentity | undefined;
  readonly instanceId: string | undefined;
}

export type AwsContext = AwsEnabled | AwsDisabled;

export interface AwsContextDeps {
  env?: NodeJS.ProcessEnv;
  imds?: Pick<ImdsClient, 'identity'>;
  /**
   * Resolves credentials through the SDK's default provider chain (env, shared files, SSO, web
   * identity, container and instance roles); throws when none is found. Injected in tests.
   */
  resolveCredentials?: (region: string) => Promise<void>;
  credentialsTimeoutMs?: number;
}

/**
 * Builds the AWS context once, at start. Never throws: without a region or credentials it returns
 * `{ enabled: false, reason }`, so the rest of the agent runs without AWS.
 */
export async function buildAwsContext(config: AwsConfig = {}, deps: AwsContextDeps = {}): Promise<AwsContext> {
  const env = deps.env ?? process.env;
  const imdsWanted = config.imds !== false && env.AWS_EC2_METADATA_DISABLED?.toLowerCase() !== 'true';
  const imdsResult = imdsWanted ? await (deps.imds ?? new ImdsClient()).identity() : { ok: false as const, reason: 'IMDS disabled by configuration' };
  const identity = imdsResult.ok ? imdsResult.identity : undefined;
  const instanceId = config.instanceId ?? identity?.instanceId;

  const fromEnv = env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined;
  const region = config.region ?? fromEnv ?? identity?.region;
  if (!region) {
    const imdsWhy = imdsResult.ok ? '' : `; ${imdsResult.reason}`;
    return { enabled: false, reason: `no AWS region: set AWS_REGION${imdsWhy}`, identity, instanceId };
  }
  const regionSource = config.region ? 'config' : fromEnv ? 'env' : 'imds';

  try {
    await withTimeout((deps.resolveCredentials ?? defaultChainCredentials)(region), deps.credentialsTimeoutMs ?? 10_000);
  } catch (err) {
    return { enabled: false, reason: `no AWS credentials: ${firstLine((err as Error).message)}`, identity, instanceId };
  }

  const endpointFor = (service: AwsServiceId): string | undefined => resolveEndpoint(service, config, env);
  return {
    enabled: true,
    region,
    regionSource,
    identity,
    instanceId,
    stackName: config.stackName,
    endpointFor,
    clientConfig: (service) => {
      const endpoint = endpointFor(service);
      if (!endpoint) return { region, ...AWS_RETRY };
      return { region, endpoint, ...AWS_RETRY, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' };
    },
  };
}

/**
 * The same precedence SDK v3 applies by itself (AWS_ENDPOINT_URL_<SERVICE_ID> over AWS_ENDPOINT_URL,
 * both ignored when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), below explicit configuration. We
 * resolve it ourselves because an override also changes the checksum settings, and so that an
 * injected environment means the same thing as the process's.
 */
export function resolveEndpoint(service: AwsServiceId, config: AwsConfig, env: NodeJS.ProcessEnv): string | undefined {
  const explicit = config.endpoints?.[service] ?? config.endpoint;
  if (explicit) return explicit;
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.toLowerCase() === 'true') return undefined;
  const suffix = service.split(' ').map((w) => w.toUpperCase()).join('_');
  return env[`AWS_ENDPOINT_URL_${suffix}`] || env.AWS_ENDPOINT_URL || undefined;
}

async function defaultChainCredentials(region: string): Promise<void> {
  // A throwaway client's resolved `credentials` is exactly the default provider chain each real
  // client will use; resolving it once tells us whether AWS is usable at all.
  const { CloudWatchClient } = await import('@aws-sdk/client-cloudwatch');
  const probe = new CloudWatchClient({ region });
  try {
    await probe.config.credentials();
  } finally {
    probe.destroy();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`credential providers did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const firstLine = (s: string): string => s.split('\n')[0] ?? s;
