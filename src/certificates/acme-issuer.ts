import type { AcmeAccountKeys } from './acme-account.js';
import { acmeClient, probeAcmeDirectory } from './acme-http.js';
import type { Http01Solver } from './http01-solver.js';
import type { CertificateIssuer, IssueRequest } from './issuer.js';

export interface AcmeIssuerConfig {
  directoryUrl: string;
  email: string;
  eab?: { kid: string; hmacKey: string };
  skipChallengeVerification: boolean;
}

/**
 * Orders a certificate from an ACME CA (RFC 8555) over http-01, with the account key kept in the
 * state directory. One call is one order. Errors name the CA's problem document when there is one;
 * they never contain key material (acme-client signs requests but does not echo keys).
 */
export class AcmeIssuer implements CertificateIssuer {
  readonly id: string;

  constructor(
    private readonly config: AcmeIssuerConfig,
    private readonly accounts: AcmeAccountKeys,
    private readonly solver: Http01Solver,
  ) {
    this.id = `acme:${config.directoryUrl}`;
  }

  async issue(req: IssueRequest): Promise<string> {
    await probeAcmeDirectory(this.config.directoryUrl);
    await req.beforeOrder?.();
    const accountKey = await this.accounts.keyFor(this.config.directoryUrl);
    const acme = await acmeClient();
    const client = new acme.Client({
      directoryUrl: this.config.directoryUrl,
      accountKey,
      externalAccountBinding: this.config.eab,
      // Status polls: start at 1 s (acme-client's 5 s default makes a 0.2 s validation take 5 s).
      backoffAttempts: 10,
      backoffMin: 1000,
      backoffMax: 10_000,
    });
    const first = req.domains[0] as string;
    // A common name is limited to 64 characters; the SANs are what clients check anyway.
    const [, csr] = await acme.crypto.createCsr(
      { ...(first.length <= 64 ? { commonName: first } : {}), altNames: [...req.domains] },
      req.keyPem,
    );
    try {
      return await client.auto({
        csr,
        email: this.config.email,
        termsOfServiceAgreed: true,
        skipChallengeVerification: this.config.skipChallengeVerification,
        challengePriority: ['http-01'],
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
          if (challenge.type !== 'http-01') throw new Error(`the CA offered no http-01 challenge (got ${challenge.type})`);
          await this.solver.present(challenge.token, keyAuthorization);
        },
        challengeRemoveFn: async (_authz, challenge) => {
          if (challenge.type === 'http-01') await this.solver.cleanup(challenge.token);
        },
      });
    } catch (err) {
      throw new Error(`ACME order at ${this.config.directoryUrl} failed: ${describe(err)}`, { cause: err });
    }
  }
}

function describe(err: unknown): string {
  const e = err as { message?: string; code?: string; response?: { status?: number; data?: { detail?: string; type?: string } } };
  const problem = e.response?.data;
  // acme-client's retry interceptor dereferences a missing response once a connection fails for good.
  if (err instanceof TypeError && /reading 'config'/.test(err.message)) return 'the connection to the ACME server failed';
  if (problem?.detail) return `${problem.detail}${problem.type ? ` (${problem.type})` : ''}`;
  if (e.code && !e.message?.includes(e.code)) return `${e.message ?? 'error'} (${e.code})`;
  return e.message ?? String(err);
}
