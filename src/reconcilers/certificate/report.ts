import type { OnDiskCertificate } from '../../certificates/cert-store.js';
import type { IssuanceRecord } from '../../certificates/issuance-record.js';
import type { IssuingReason, ReadyReason } from './conditions.js';
import { type CertificateAction, type DesiredCertificate, renewalOf, satisfiesSpec } from './plan.js';

export interface CertificateReport {
  ready: { reason: ReadyReason; message: string };
  issuing: { reason: IssuingReason; message: string };
  /** What /status shows; no key material, ever. */
  details: Record<string, unknown>;
  notAfter: Date | undefined;
  renewAt: Date | undefined;
  requeueAfterMs: number;
}

export interface ReportTiming {
  /** Look again at least this often, so ARI advice and files changed by hand are noticed. */
  maxRecheckMs: number;
  /** Retry interval for a reload that failed (the certificate itself is already in place). */
  reloadRetryMs: number;
}

export interface ReportInput {
  desired: DesiredCertificate;
  certFile: string;
  disk: OnDiskCertificate;
  record: IssuanceRecord;
  /** What the plan says now, after this pass's actions: the next thing that will happen. */
  next: readonly CertificateAction[];
  reloadError: string | undefined;
  now: Date;
}

const iso = (d: Date): string => d.toISOString();
const READY_WHEN_NOT_SATISFIED: Record<IssuingReason, ReadyReason> = { Scheduled: 'Issuing', Pending: 'Issuing', IssueFailed: 'IssueFailed', OrderRateBound: 'OrderRateBound' };

/** The Issuing condition and when to look again, from the next planned step. */
function issuingOf(input: ReportInput): { reason: IssuingReason; message: string; lookAgainMs: number } {
  const { next, record, now } = input;
  const valid = next.find((a) => a.type === 'valid');
  if (valid) {
    const present = input.disk.state === 'present' ? input.disk : undefined;
    const ariAt = record.ari && record.ari.serial === present?.info.serial ? Date.parse(record.ari.checkAgainAt) : Infinity;
    return { reason: 'Scheduled', message: `next renewal at ${iso(valid.renewAt)} (${valid.basis})`, lookAgainMs: Math.min(valid.renewAt.getTime(), ariAt) - now.getTime() };
  }
  const wait = next.find((a) => a.type === 'wait');
  if (wait) {
    const lookAgainMs = wait.until.getTime() - now.getTime();
    if (wait.cause === 'backoff') return { reason: 'IssueFailed', message: `${record.lastError?.message ?? 'issuance failed'}; next retry at ${iso(wait.until)}`, lookAgainMs };
    if (wait.cause === 'order-bound') return { reason: 'OrderRateBound', message: wait.reason, lookAgainMs };
    return { reason: 'Pending', message: wait.reason, lookAgainMs };
  }
  // Still due right after acting: the new certificate is already due (a clock far ahead of the CA's). Look again soon.
  const issue = next.find((a) => a.type === 'issue');
  return { reason: 'Pending', message: issue?.reason ?? 'issuance pending', lookAgainMs: 60_000 };
}

/**
 * The Ready and Issuing conditions, /status details and the next look for one certificate, from what
 * is on disk and what the plan says next: plain data in, plain data out. Ready is about the pair in
 * place, so a failing renewal of a still valid certificate leaves it True and shows on Issuing.
 */
export function reportCertificate(input: ReportInput, timing: ReportTiming): CertificateReport {
  const { disk, record, now, reloadError } = input;
  const present = disk.state === 'present' ? disk : undefined;
  const current =
    present && present.key === 'ok' && now < present.info.notAfter
      ? `the current certificate (serial ${present.info.serial}, valid until ${iso(present.info.notAfter)}) stays in place`
      : 'no valid certificate is on disk';
  const issuing = issuingOf(input);
  const satisfied = satisfiesSpec(input.desired, disk, record, now);

  let ready: CertificateReport['ready'];
  if (reloadError) ready = { reason: 'ReloadFailed', message: `certificate in place but ${reloadError}` };
  else if (satisfied && present) ready = { reason: 'Valid', message: `serial ${present.info.serial} valid until ${iso(present.info.notAfter)}${issuing.reason === 'Scheduled' ? '' : `; renewal: ${issuing.message}`}` };
  else ready = { reason: READY_WHEN_NOT_SATISFIED[issuing.reason], message: `${issuing.message}; ${current}` };

  const renewAt = present ? renewalOf(input.desired, present, record).at : undefined;
  const lookAgainMs = Math.min(issuing.lookAgainMs, reloadError ? timing.reloadRetryMs : Infinity);
  return {
    ready,
    issuing: { reason: issuing.reason, message: issuing.message },
    details: {
      issuer: input.desired.issuerId,
      certificateIssuer: present?.info.issuer ?? null,
      serial: present?.info.serial ?? null,
      notBefore: present ? iso(present.info.notBefore) : null,
      notAfter: present ? iso(present.info.notAfter) : null,
      domains: present?.info.domains ?? [],
      nextRenewal: renewAt ? iso(renewAt) : null,
      nextRetry: record.nextRetryAt ?? null,
      lastError: record.lastError?.message ?? null,
      temporary: record.temporarySince !== undefined,
      certFile: input.certFile,
    },
    notAfter: present?.info.notAfter,
    renewAt,
    requeueAfterMs: Math.max(1000, Math.min(lookAgainMs, timing.maxRecheckMs)),
  };
}
