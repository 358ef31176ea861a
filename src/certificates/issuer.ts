import type { CertificateKeyType } from '../manifests/kinds/certificate.js';

export interface IssueRequest {
  domains: readonly string[];
  keyType: CertificateKeyType;
  /** The new certificate's private key (PKCS#8 PEM). Issuers sign a CSR with it; they never log it. */
  keyPem: string;
  now: Date;
  /**
   * Called once the CA is known to be reachable, right before the order is placed: the caller counts
   * orders against its hourly bound here, so an unreachable CA costs backoff but no order budget.
   */
  beforeOrder?: () => Promise<void>;
}

/**
 * Something that turns a key and a list of names into a certificate chain. Throws when it cannot;
 * the caller keeps the current files and retries with backoff.
 */
export interface CertificateIssuer {
  /** Identifies the issuer in status and bookkeeping, e.g. "selfSigned" or "acme:https://…/directory". */
  readonly id: string;
  /** The full chain, leaf first, PEM. */
  issue(req: IssueRequest): Promise<string>;
}
