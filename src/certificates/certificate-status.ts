import type { PlannedAction } from '../reconcilers/types.js';
import type { IssuanceRecord } from './issuance-record.js';
import type { CertificateDecision } from './certificate-decision.js';
import type { OnDiskCertificate } from './cert-store.js';

export interface CertificateReport {
  ready: 'True' | 'False';
  reason: string;
  message: string;
  /** What /status shows; no key material, ever. */
  details: Record<string, unknown>;
  notAfter: Date | undefined;
  renewAt: Date | undefined;
  requeueAfterMs: number;
}

export interface ReportTiming {
  maxRecheckMs: number;
  reloadRetryMs: number;
}

const iso = (d: Date): string => d.toISOString();

/**
 * The Ready condition, /status details and next look for one certificate, from what was decided and
 * observed: plain data in, plain data out.
 */
export function reportCertificate(
  input: { issuerId: string; certFile: string; disk: OnDiskCertificate; issuance: IssuanceRecord; decision: CertificateDecision; renewAt: Date | undefined; reloadError: string | undefined; now: Date },
  timing: ReportTiming,
): CertificateReport {
  const { disk, issuance, decision, now, reloadError } = input;
  const present = disk.state === 'present' ? disk : undefined;
  const current =
    present && present.key === 'ok' && now < present.info.notAfter
      ? `the current certificate (serial ${present.info.serial}, valid until ${iso(present.info.notAfter)}) stays in place`
      : 'no valid certificate is on disk';

  let ready: 'True' | 'False' = 'False';
  let reason: string;
  let message: string;
  let requeueMs: number;
  if (decision.action === 'skip') {
    ready = reloadError ? 'False' : 'True';
    reason = reloadError ? 'ReloadFailed' : 'Valid';
    message = reloadError ? `certificate in place but ${reloadError}` : decision.reason;
    const ariAt = issuance.ari && issuance.ari.serial === present?.info.serial ? Date.parse(issuance.ari.checkAgainAt) - now.getTime() : Infinity;
    requeueMs = Math.min(decision.renewAt.getTime() - now.getTime(), ariAt, reloadError ? timing.reloadRetryMs : Infinity);
  } else if (decision.action === 'wait') {
    requeueMs = decision.until.getTime() - now.getTime();
    if (decision.cause === 'backoff') {
      reason = 'IssueFailed';
      message = `${issuance.lastError?.message ?? 'issuance failed'}; next retry at ${iso(decision.until)}; ${current}`;
    } else if (decision.cause === 'order-bound') {
      reason = 'OrderRateBound';
      message = `${decision.reason}; ${current}`;
    } else {
      reason = 'Issuing';
      message = decision.reason;
    }
  } else {
    // Still "issue" after acting: the new certificate is already due (a clock far ahead of the CA's). Look again soon.
    reason = 'Pending';
    message = decision.reason;
    requeueMs = 60_000;
  }

  return {
    ready,
    reason,
    message,
    details: {
      issuer: input.issuerId,
      certificateIssuer: present?.info.issuer ?? null,
      serial: present?.info.serial ?? null,
      notBefore: present ? iso(present.info.notBefore) : null,
      notAfter: present ? iso(present.info.notAfter) : null,
      domains: present?.info.domains ?? [],
      nextRenewal: input.renewAt ? iso(input.renewAt) : null,
      nextRetry: issuance.nextRetryAt ?? null,
      lastError: issuance.lastError?.message ?? null,
      temporary: issuance.temporarySince !== undefined,
      certFile: input.certFile,
    },
    notAfter: present?.info.notAfter,
    renewAt: input.renewAt,
    requeueAfterMs: Math.max(1000, Math.min(requeueMs, timing.maxRecheckMs)),
  };
}

/** What `certitrack-agent plan` prints for a decision. PlannedAction has no "renew": it is an update. */
export function plannedAction(name: string, d: CertificateDecision): PlannedAction {
  switch (d.action) {
    case 'issue':
      return { kind: 'Certificate', name, action: d.kind === 'create' ? 'create' : 'update', reason: d.kind === 'create' ? d.reason : `renew: ${d.reason}` };
    case 'placeholder':
      return { kind: 'Certificate', name, action: 'create', reason: d.reason };
    case 'skip':
      return { kind: 'Certificate', name, action: 'skip', reason: d.reason };
    case 'wait':
      return { kind: 'Certificate', name, action: 'wait', reason: d.reason };
  }
}
