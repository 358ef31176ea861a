/**
 * A minimal IMDSv2 client: the instance's identity (id, region, type, availability zone) without
 * the SDK. IMDSv2 is session-based: a PUT for a token, then GETs carrying it. The agent runs on the
 * host (not in a container), so the instance's default hop limit of 1 is enough.
 *
 * Off EC2, the link-local address either refuses at once or never answers; short timeouts turn both
 * into a clear "not on EC2" result instead of a hang.
 */

export const DEFAULT_IMDS_URL = 'http://169.254.169.254';
const TOKEN_PATH = '/latest/api/token';
const IDENTITY_PATH = '/latest/dynamic/instance-identity/document';
const TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'x-aws-ec2-metadata-token';

export interface InstanceIdentity {
  instanceId: string;
  region: string;
  instanceType: string;
  availabilityZone: string;
  accountId?: string;
  imageId?: string;
}

export type ImdsResult = { ok: true; identity: InstanceIdentity } | { ok: false; reason: string };

export interface ImdsOptions {
  /** Defaults to AWS_EC2_METADATA_SERVICE_ENDPOINT (as the SDK reads it) or http://169.254.169.254. */
  baseUrl?: string;
  /** Per request; IMDS answers in milliseconds when it is there at all. */
  timeoutMs?: number;
  tokenTtlSeconds?: number;
  now?: () => number;
}

/** IMDS answered, but not with what we asked for (as opposed to not being reachable at all). */
export class ImdsError extends Error {
  override readonly name = 'ImdsError';
  constructor(
    message: string,
    readonly status: number | undefined,
  ) {
    super(message);
  }
}

export class ImdsClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly ttlSeconds: number;
  private readonly now: () => number;
  private token: { value: string; expiresAt: number } | undefined;

  constructor(opts: ImdsOptions = {}) {
    this.baseUrl = (opts.baseUrl ?? process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT ?? DEFAULT_IMDS_URL).replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 1000;
    this.ttlSeconds = opts.tokenTtlSeconds ?? 21_600;
    this.now = opts.now ?? Date.now;
  }

  /** The identity document, or why it could not be had; never throws. */
  async identity(): Promise<ImdsResult> {
    let text: string;
    try {
      text = await this.get(IDENTITY_PATH);
    } catch (err) {
      return { ok: false, reason: this.describeFailure(err) };
    }
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return { ok: false, reason: `IMDS at ${this.baseUrl} returned an identity document that is not JSON` };
    }
    const str = (k: string): string | undefined => (typeof doc[k] === 'string' ? (doc[k] as string) : undefined);
    const instanceId = str('instanceId');
    const region = str('region');
    if (!instanceId || !region) return { ok: false, reason: `IMDS identity document lacks instanceId or region` };
    return {
      ok: true,
      identity: {
        instanceId,
        region,
        instanceType: str('instanceType') ?? '',
        availabilityZone: str('availabilityZone') ?? '',
        ...(str('accountId') ? { accountId: str('accountId') } : {}),
        ...(str('imageId') ? { imageId: str('imageId') } : {}),
      },
    };
  }

  /**
   * GET a metadata path with a session token. A 401 means the token expired or was revoked (IMDS
   * restarts, clock jumps): fetch a new token and try once more.
   */
  async get(path: string): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.sessionToken();
      const res = await this.request('GET', path, { [TOKEN_HEADER]: token });
      if (res.status === 401 && attempt === 0) {
        this.token = undefined;
        continue;
      }
      if (res.status !== 200) throw new ImdsError(`IMDS GET ${path} answered ${res.status}`, res.status);
      return res.body;
    }
  }

  private async sessionToken(): Promise<string> {
    // Renew a minute early so a token never expires between being read and being used.
    if (this.token && this.token.expiresAt - 60_000 > this.now()) return this.token.value;
    const res = await this.request('PUT', TOKEN_PATH, { [TTL_HEADER]: String(this.ttlSeconds) });
    if (res.status !== 200 || res.body.length === 0) {
      throw new ImdsError(`IMDS token request answered ${res.status}`, res.status);
    }
    this.token = { value: res.body, expiresAt: this.now() + this.ttlSeconds * 1000 };
    return res.body;
  }

  private async request(method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
    const res = await fetch(`${this.baseUrl}${path}`, { method, headers, signal: AbortSignal.timeout(this.timeoutMs), redirect: 'error' });
    return { status: res.status, body: await res.text() };
  }

  private describeFailure(err: unknown): string {
    if (err instanceof ImdsError) return `${err.message} (${this.baseUrl})`;
    const e = err as Error & { cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : (e.cause?.code ?? e.message);
    return `not on EC2: instance metadata service at ${this.baseUrl} is unreachable (${why})`;
  }
}
