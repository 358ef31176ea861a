import { exponentialBackoffMs } from '../util/exponential-backoff.js';
import { pointInWindow, type RenewalWindow } from './ari.js';

export type RenewalBasis = 'ari' | 'two-thirds' | 'renewBefore';

export interface RenewalInputs {
  notBefore: Date;
  notAfter: Date;
  serial: string;
  /** The spec's override: renew when this much validity is left, if that comes first. */
  renewBeforeMs?: number;
  /** The CA's suggested window for this very certificate, when it offers one. */
  ari?: Pick<RenewalWindow, 'start' | 'end'>;
}

/**
 * When a certificate should be renewed: inside the CA's ARI window when there is one (the CA knows
 * about revocations and incidents), else when two thirds of its lifetime have passed (Let's Encrypt's
 * and cert-manager's default); `renewBefore` can only bring that earlier.
 */
export function renewalTime(i: RenewalInputs): { at: Date; basis: RenewalBasis } {
  const lifetime = i.notAfter.getTime() - i.notBefore.getTime();
  let at = i.ari ? pointInWindow(i.ari, i.serial) : new Date(i.notBefore.getTime() + Math.floor((lifetime * 2) / 3));
  let basis: RenewalBasis = i.ari ? 'ari' : 'two-thirds';
  if (i.renewBeforeMs !== undefined) {
    const before = new Date(i.notAfter.getTime() - i.renewBeforeMs);
    if (before < at) {
      at = before;
      basis = 'renewBefore';
    }
  }
  return { at, basis };
}

export interface RetryPolicy {
  /** First wait after a failed issuance; doubles with each further failure. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** ACME orders allowed per certificate in any sliding hour (successful or not). */
  maxOrdersPerHour: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { backoffBaseMs: 60_000, backoffMaxMs: 4 * 3_600_000, maxOrdersPerHour: 3 };

/** 1 min, 2, 4, 8 … up to 4 h by default: a CA outage costs a handful of orders a day, not thousands. */
export function failureBackoffMs(failures: number, policy: RetryPolicy): number {
  return exponentialBackoffMs(failures, policy.backoffBaseMs, policy.backoffMaxMs);
}

const HOUR_MS = 3_600_000;

/**
 * The sliding-hour order bound: orders placed within the last hour (older ones dropped), and when
 * the next one may be placed if the bound is reached. Let's Encrypt allows 5 failed validations per
 * name per hour; staying under that keeps a misconfiguration from locking the name out.
 */
export function orderBudget(orders: readonly string[], now: Date, maxPerHour: number): { recent: string[]; nextAllowedAt: Date | undefined } {
  const since = now.getTime() - HOUR_MS;
  const recent = orders.filter((t) => Date.parse(t) > since).sort();
  if (recent.length < maxPerHour) return { recent, nextAllowedAt: undefined };
  const oldestThatCounts = recent[recent.length - maxPerHour] as string;
  return { recent, nextAllowedAt: new Date(Date.parse(oldestThatCounts) + HOUR_MS) };
}
