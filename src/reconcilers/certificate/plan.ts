import type { OnDiskCertificate } from '../../certificates/cert-store.js';
import type { IssuanceRecord } from '../../certificates/issuance-record.js';
import { issuerIdOf } from '../../certificates/issuer-factory.js';
import type { PairLayout } from '../../certificates/pair-store.js';
import { DEFAULT_RETRY_POLICY, orderBudget, renewalTime, type RenewalBasis, type RetryPolicy } from '../../certificates/renewal-policy.js';
import type { FieldChange, KindAction } from '../../engine/reconcile.js';
import type { CertificateKeyType, CertificateSpec } from '../../manifests/kinds/certificate.js';
import type { Resource } from '../../manifests/resource.js';

/** What the manifest asks of the files, in the terms the renewal policy needs. */
export interface DesiredCertificate {
  domains: readonly string[];
  keyType: CertificateKeyType;
  issuerId: string;
  acme: boolean;
  renewBeforeMs?: number;
  /** Services told about a new certificate. */
  reload: readonly string[];
}

export const desiredCertificate = (res: Resource<CertificateSpec>): DesiredCertificate => ({
  domains: res.spec.domains,
  keyType: res.spec.keyType,
  issuerId: issuerIdOf(res.spec),
  acme: 'acme' in res.spec.issuer,
  renewBeforeMs: res.spec.renewBefore,
  reload: res.spec.reload.map((r) => r.service),
});

export interface CertificateObservation {
  /** The pair as a reader sees it, in one consistent look. */
  disk: OnDiskCertificate;
  layout: PairLayout;
  /** Bookkeeping (failures, backoff, orders, pending reloads) with the CA's latest ARI advice. */
  record: IssuanceRecord;
  /** The agent keeps bookkeeping for this name, so an undeclared one has something to forget. */
  tracked: boolean;
  /** Version of the bookkeeping read (IssuanceRecords.version): apply notices a run that changed it since. */
  recordVersion: number;
}

export interface PlanPolicy {
  /** `cert renew NAME`: renew even when nothing is due, skipping the failure backoff and the stand-in grace (not the order bound). */
  forced: boolean;
  retry: RetryPolicy;
  /** How long a self-signed stand-in is left for services to start with before the ACME order. */
  temporaryGraceMs: number;
}

export const DEFAULT_PLAN_POLICY: PlanPolicy = { forced: false, retry: DEFAULT_RETRY_POLICY, temporaryGraceMs: 10_000 };

export type WaitCause = 'backoff' | 'order-bound' | 'grace';

export type CertificateAction =
  /** Plain files from before the linked layout: the same pair moves into it (no reload). */
  | (KindAction & { type: 'adopt'; action: 'update' })
  /** Nothing loadable on disk and the issuer is remote: a self-signed stand-in first, so services can start. */
  | (KindAction & { type: 'stand-in'; action: 'create' })
  | (KindAction & { type: 'issue'; action: 'issue'; renewal: boolean })
  /** Tell a service about the new pair; `afterWrite`: only if this pass wrote one. */
  | (KindAction & { type: 'reload'; action: 'reload'; service: string; afterWrite: boolean })
  | (KindAction & { type: 'wait'; action: 'wait'; cause: WaitCause; until: Date })
  /** Nothing due: the certificate in place satisfies the spec until `renewAt`. */
  | (KindAction & { type: 'valid'; action: 'note'; renewAt: Date; basis: RenewalBasis })
  /** No longer declared: bookkeeping goes, the files stay (nginx may still point at them). */
  | (KindAction & { type: 'forget'; action: 'note' });

type Present = Extract<OnDiskCertificate, { state: 'present' }>;
const iso = (d: Date): string => d.toISOString();
const json = (v: unknown): string => JSON.stringify(v);

/** The renewal moment of the certificate on disk, with the CA's ARI advice when it is about this serial. */
export function renewalOf(desired: DesiredCertificate, disk: Present, record: IssuanceRecord): { at: Date; basis: RenewalBasis } {
  const ari = record.ari && record.ari.serial === disk.info.serial && !('none' in record.ari) ? record.ari : undefined;
  return renewalTime({ notBefore: disk.info.notBefore, notAfter: disk.info.notAfter, serial: disk.info.serial, renewBeforeMs: desired.renewBeforeMs, ari });
}

interface Need {
  renewal: boolean;
  reason: string;
  /** The certificate in place does not satisfy the spec, whatever the time (as opposed to "due"). */
  mismatch: boolean;
  changes?: FieldChange[];
}

/** Why the files on disk do not satisfy the spec right now, or undefined when they do. */
function whyIssue(desired: DesiredCertificate, disk: OnDiskCertificate, record: IssuanceRecord, now: Date): Need | undefined {
  if (disk.state === 'missing') return { renewal: false, mismatch: true, reason: 'no certificate at certFile' };
  if (disk.state === 'corrupt') return { renewal: false, mismatch: true, reason: disk.reason };
  if (disk.key === 'missing') return { renewal: true, mismatch: true, reason: 'key file is missing' };
  if (disk.key === 'mismatch') return { renewal: true, mismatch: true, reason: 'key file does not match the certificate' };
  const have = new Set(disk.info.domains);
  const want = new Set(desired.domains);
  const added = [...want].filter((d) => !have.has(d));
  const removed = [...have].filter((d) => !want.has(d));
  if (added.length || removed.length) {
    const parts = [added.length ? `added ${added.join(', ')}` : '', removed.length ? `removed ${removed.join(', ')}` : ''].filter(Boolean);
    return { renewal: true, mismatch: true, reason: `domains changed (${parts.join('; ')})`, changes: [{ path: 'spec.domains', from: json(disk.info.domains), to: json(desired.domains) }] };
  }
  if (disk.info.keyType !== desired.keyType)
    return {
      renewal: true,
      mismatch: true,
      reason: `key type is ${disk.info.keyType ?? 'another type'}; the spec asks for ${desired.keyType}`,
      changes: [{ path: 'spec.keyType', ...(disk.info.keyType ? { from: json(disk.info.keyType) } : {}), to: json(desired.keyType) }],
    };
  if (desired.acme && record.temporarySince) return { renewal: false, mismatch: true, reason: 'a temporary self-signed certificate stands in for the ACME one' };
  if (record.issuerId && record.issuerId !== desired.issuerId)
    return { renewal: true, mismatch: true, reason: `issuer changed from ${record.issuerId} to ${desired.issuerId}`, changes: [{ path: 'spec.issuer', from: json(record.issuerId), to: json(desired.issuerId) }] };
  if (!record.issuerId && desired.acme && disk.info.selfSigned) return { renewal: true, mismatch: true, reason: 'the certificate on disk is self-signed; the issuer is ACME' };
  if (now >= disk.info.notAfter) return { renewal: true, mismatch: true, reason: `expired at ${iso(disk.info.notAfter)}` };
  const { at, basis } = renewalOf(desired, disk, record);
  if (now >= at) return { renewal: true, mismatch: false, reason: `renewal due since ${iso(at)} (${basis})` };
  return undefined;
}

/** Whether the pair in place is loadable, unexpired and what the spec asks for (renewal timing aside). */
export function satisfiesSpec(desired: DesiredCertificate, disk: OnDiskCertificate, record: IssuanceRecord, now: Date): boolean {
  return !(whyIssue(desired, disk, record, now)?.mismatch ?? false);
}

/** Why nothing can be ordered now, if something holds the order back. */
function holdBack(desired: DesiredCertificate, need: Need, record: IssuanceRecord, now: Date, policy: PlanPolicy): Extract<CertificateAction, { type: 'wait' }> | undefined {
  if (desired.acme && record.temporarySince && !policy.forced) {
    const until = new Date(Date.parse(record.temporarySince) + policy.temporaryGraceMs);
    if (now < until) return { type: 'wait', action: 'wait', cause: 'grace', until, reason: `${need.reason}; ordering at ${iso(until)} once services have started` };
  }
  if (!policy.forced && record.nextRetryAt && now < new Date(record.nextRetryAt)) {
    const until = new Date(record.nextRetryAt);
    return { type: 'wait', action: 'wait', cause: 'backoff', until, reason: `${need.reason}; retrying at ${iso(until)} after ${record.failures} failure(s)` };
  }
  if (!desired.acme) return undefined;
  const { recent, nextAllowedAt } = orderBudget(record.orders, now, policy.retry.maxOrdersPerHour);
  if (!nextAllowedAt) return undefined;
  return {
    type: 'wait',
    action: 'wait',
    cause: 'order-bound',
    until: nextAllowedAt,
    reason: `${need.reason}; ${recent.length} orders in the last hour reached the bound of ${policy.retry.maxOrdersPerHour}; next order at ${iso(nextAllowedAt)}`,
  };
}

const reloads = (services: readonly string[], afterWrite: boolean): CertificateAction[] =>
  services.map((service) => ({ type: 'reload', action: 'reload', service, afterWrite, reason: `reload ${service}: ${afterWrite ? 'certificate changed' : 'certificate changed; the last reload failed'}` }));

/**
 * What to do about one certificate, as plain data: the whole renewal policy (mismatch detection,
 * renewal time, failure backoff, order bound, stand-in certificate, adopting plain files, reloads)
 * with no effects, so `plan` shows exactly what apply does and tests need no CA.
 */
export function plan(res: Resource<CertificateSpec> | undefined, observed: CertificateObservation, now: Date, policy: PlanPolicy = DEFAULT_PLAN_POLICY): CertificateAction[] {
  if (!res) return observed.tracked ? [{ type: 'forget', action: 'note', reason: 'no longer declared: the files stay in place and are no longer renewed' }] : [];
  const desired = desiredCertificate(res);
  const { disk, record } = observed;
  // nginx loads an expired pair but not a missing or mismatched one: only then is a stand-in needed.
  const loadable = disk.state === 'present' && disk.key === 'ok';
  const actions: CertificateAction[] = [];
  if (observed.layout === 'plain' && loadable) actions.push({ type: 'adopt', action: 'update', reason: 'move the pair at certFile/keyFile into the linked layout swapped as one unit (same certificate, no reload)' });

  const pendingReloads = (): CertificateAction[] => reloads(record.pendingReload.filter((s) => desired.reload.includes(s)), false);

  let need = whyIssue(desired, disk, record, now);
  if (!need) {
    if (!policy.forced && disk.state === 'present') {
      const { at, basis } = renewalOf(desired, disk, record);
      actions.push({ type: 'valid', action: 'note', renewAt: at, basis, reason: `valid until ${iso(disk.info.notAfter)}; renews at ${iso(at)} (${basis})` });
      return [...actions, ...pendingReloads()];
    }
    need = { renewal: true, mismatch: false, reason: 'renewal requested' };
  }

  const standIn = desired.acme && !loadable;
  if (standIn) actions.push({ type: 'stand-in', action: 'create', reason: `${need.reason}; a self-signed stand-in goes first so services can start` });
  const wait = holdBack(desired, need, standIn ? { ...record, temporarySince: iso(now) } : record, now, policy);
  if (!wait) {
    const renewal = need.renewal && !standIn;
    actions.push({ type: 'issue', action: 'issue', renewal, reason: renewal ? `renew: ${need.reason}` : need.reason, ...(need.changes ? { changes: need.changes } : {}) });
  }
  actions.push(...(standIn || !wait ? reloads(desired.reload, true) : pendingReloads()));
  if (wait) actions.push(wait);
  return actions;
}
