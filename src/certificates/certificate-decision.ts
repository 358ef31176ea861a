import type { CertificateKeyType } from '../manifests/kinds/certificate.js';
import type { IssuanceRecord } from './issuance-record.js';
import type { OnDiskCertificate } from './cert-store.js';
import { orderBudget, renewalTime, type RenewalBasis, type RetryPolicy } from './renewal-policy.js';

export interface DesiredCertificate {
  domains: readonly string[];
  keyType: CertificateKeyType;
  issuerId: string;
  acme: boolean;
  renewBeforeMs?: number;
}

export interface DecisionOptions {
  /** `cert renew NAME`: renew even when nothing is due, and skip the failure backoff (not the order bound). */
  forced: boolean;
  retry: RetryPolicy;
  /** How long a self-signed stand-in is left for services to start with before the ACME order. */
  temporaryGraceMs: number;
}

export type CertificateDecision =
  | { action: 'issue'; kind: 'create' | 'renew'; reason: string }
  /** Nothing usable on disk and the issuer is remote: write a self-signed stand-in first. */
  | { action: 'placeholder'; reason: string }
  | { action: 'skip'; reason: string; renewAt: Date; basis: RenewalBasis }
  | { action: 'wait'; reason: string; until: Date; cause: 'backoff' | 'order-bound' | 'grace'; pending: string };

const iso = (d: Date): string => d.toISOString();

/** The renewal moment of the certificate on disk, with the CA's ARI advice when it is about this serial. */
export function renewalOf(desired: DesiredCertificate, disk: Extract<OnDiskCertificate, { state: 'present' }>, issuance: IssuanceRecord) {
  const ari = issuance.ari && issuance.ari.serial === disk.info.serial && !('none' in issuance.ari) ? issuance.ari : undefined;
  return renewalTime({ notBefore: disk.info.notBefore, notAfter: disk.info.notAfter, serial: disk.info.serial, renewBeforeMs: desired.renewBeforeMs, ari });
}

/** Why the files on disk do not satisfy the spec right now, or undefined when they do. */
function whyIssue(desired: DesiredCertificate, disk: OnDiskCertificate, issuance: IssuanceRecord, now: Date): { kind: 'create' | 'renew'; reason: string } | undefined {
  if (disk.state === 'missing') return { kind: 'create', reason: 'no certificate at certFile' };
  if (disk.state === 'corrupt') return { kind: 'create', reason: disk.reason };
  if (disk.key === 'missing') return { kind: 'renew', reason: 'key file is missing' };
  if (disk.key === 'mismatch') return { kind: 'renew', reason: 'key file does not match the certificate' };
  const have = new Set(disk.info.domains);
  const want = new Set(desired.domains);
  const added = [...want].filter((d) => !have.has(d));
  const removed = [...have].filter((d) => !want.has(d));
  if (added.length || removed.length) {
    const parts = [added.length ? `added ${added.join(', ')}` : '', removed.length ? `removed ${removed.join(', ')}` : ''].filter(Boolean);
    return { kind: 'renew', reason: `domains changed (${parts.join('; ')})` };
  }
  if (disk.info.keyType !== desired.keyType) return { kind: 'renew', reason: `key type is ${disk.info.keyType ?? 'another type'}; the spec asks for ${desired.keyType}` };
  if (desired.acme && issuance.temporarySince) return { kind: 'create', reason: 'a temporary self-signed certificate stands in for the ACME one' };
  if (issuance.issuerId && issuance.issuerId !== desired.issuerId) return { kind: 'renew', reason: `issuer changed from ${issuance.issuerId} to ${desired.issuerId}` };
  if (!issuance.issuerId && desired.acme && disk.info.selfSigned) return { kind: 'renew', reason: 'the certificate on disk is self-signed; the issuer is ACME' };
  if (now >= disk.info.notAfter) return { kind: 'renew', reason: `expired at ${iso(disk.info.notAfter)}` };
  const { at, basis } = renewalOf(desired, disk, issuance);
  if (now >= at) return { kind: 'renew', reason: `renewal due since ${iso(at)} (${basis})` };
  return undefined;
}

/**
 * What to do about one certificate, as plain data: the whole renewal policy (mismatch detection,
 * renewal time, failure backoff, order bound, stand-in certificate) with no effects, so plan and
 * reconcile agree and tests need no CA.
 */
export function decideCertificate(desired: DesiredCertificate, disk: OnDiskCertificate, issuance: IssuanceRecord, now: Date, opts: DecisionOptions): CertificateDecision {
  let need = whyIssue(desired, disk, issuance, now);
  if (!need) {
    if (!opts.forced && disk.state === 'present') {
      const { at, basis } = renewalOf(desired, disk, issuance);
      return { action: 'skip', reason: `valid until ${iso(disk.info.notAfter)}; renews at ${iso(at)} (${basis})`, renewAt: at, basis };
    }
    need = { kind: 'renew', reason: 'renewal requested' };
  }
  // nginx loads an expired pair but not a missing or mismatched one: only then is a stand-in needed.
  const loadable = disk.state === 'present' && disk.key === 'ok';
  if (desired.acme && !loadable) return { action: 'placeholder', reason: `${need.reason}; a self-signed stand-in goes first so services can start` };
  if (desired.acme && issuance.temporarySince && !opts.forced) {
    const until = new Date(Date.parse(issuance.temporarySince) + opts.temporaryGraceMs);
    if (now < until) return { action: 'wait', cause: 'grace', until, pending: need.reason, reason: `${need.reason}; ordering at ${iso(until)} once services have started` };
  }
  if (!opts.forced && issuance.nextRetryAt && now < new Date(issuance.nextRetryAt)) {
    const until = new Date(issuance.nextRetryAt);
    return { action: 'wait', cause: 'backoff', until, pending: need.reason, reason: `${need.reason}; retrying at ${iso(until)} after ${issuance.failures} failure(s)` };
  }
  if (desired.acme) {
    const { recent, nextAllowedAt } = orderBudget(issuance.orders, now, opts.retry.maxOrdersPerHour);
    if (nextAllowedAt)
      return {
        action: 'wait',
        cause: 'order-bound',
        until: nextAllowedAt,
        pending: need.reason,
        reason: `${need.reason}; ${recent.length} orders in the last hour reached the bound of ${opts.retry.maxOrdersPerHour}; next order at ${iso(nextAllowedAt)}`,
      };
  }
  return { action: 'issue', kind: need.kind, reason: need.reason };
}
