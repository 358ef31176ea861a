import type { IssuedCertificates } from '../manifests/checks/check-context.js';
import type { DurableState } from '../state/durable-state.js';
import type { RenewalWindow } from './ari.js';

/** What the agent remembers about one certificate between reconciles and restarts. No key material. */
export interface IssuanceRecord {
  /** Issuer of the certificate the agent last wrote (see CertificateIssuer.id). */
  issuerId?: string;
  serial?: string;
  /** The files hold a self-signed stand-in written while an ACME certificate is on its way. */
  temporarySince?: string;
  /** Consecutive failed issuances; 0 after a success. */
  failures: number;
  nextRetryAt?: string;
  lastError?: { message: string; time: string };
  /** Times of ACME orders placed recently, for the hourly bound. */
  orders: string[];
  /** Services told about a new certificate that have not confirmed the reload yet. */
  pendingReload: string[];
  /** The CA's ARI answer for `serial`, or `none` when the directory offers no renewalInfo. */
  ari?: (RenewalWindow & { serial: string }) | { serial: string; none: true; checkAgainAt: string };
  lastIssuedAt?: string;
}

const SECTION = 'certificates';

export function emptyIssuanceRecord(): IssuanceRecord {
  return { failures: 0, orders: [], pendingReload: [] };
}

/** Bookkeeping kept in the agent's state file, one entry per Certificate name. */
export class IssuanceRecords {
  private readonly versions = new Map<string, number>();

  constructor(private readonly state: DurableState) {}

  /** Changes with every put or delete of this name (in this process): tells a reader its copy is stale. */
  version(name: string): number {
    return this.versions.get(name) ?? 0;
  }

  get(name: string): IssuanceRecord {
    const stored = this.state.get<IssuanceRecord>(SECTION, name);
    return stored ? { ...emptyIssuanceRecord(), ...structuredClone(stored) } : emptyIssuanceRecord();
  }

  has(name: string): boolean {
    return this.state.get(SECTION, name) !== undefined;
  }

  /** Writes through to disk now: the order count must survive a crash right after an order. */
  async put(name: string, issuance: IssuanceRecord): Promise<void> {
    this.versions.set(name, this.version(name) + 1);
    this.state.set(SECTION, name, issuance);
    await this.state.flush();
  }

  async delete(name: string): Promise<void> {
    this.versions.set(name, this.version(name) + 1);
    this.state.delete(SECTION, name);
    await this.state.flush();
  }

  names(): string[] {
    return this.state.entries(SECTION).map(([name]) => name);
  }

  /** What the keyFile overwrite rule needs: every serial the agent wrote, and the names it manages. */
  issued(): IssuedCertificates {
    return issuedFrom(this.state.entries<IssuanceRecord>(SECTION));
  }
}

/** The same from the raw section of a state.json (for `validate --state-dir`, which opens no store). */
export function issuedFrom(entries: readonly [string, Partial<IssuanceRecord>][]): IssuedCertificates {
  return {
    serials: new Set(entries.map(([, r]) => r.serial).filter((s): s is string => typeof s === 'string')),
    names: new Set(entries.map(([name]) => name)),
  };
}

export const ISSUANCE_SECTION = SECTION;
