import { describe, expect, it } from 'vitest';
import { emptyIssuanceRecord, type IssuanceRecord } from '../../src/certificates/issuance-record.js';
import { decideCertificate, type DesiredCertificate } from '../../src/certificates/certificate-decision.js';
import type { CertificateInfo, OnDiskCertificate } from '../../src/certificates/cert-store.js';
import { DEFAULT_RETRY_POLICY, failureBackoffMs, orderBudget, renewalTime } from '../../src/certificates/renewal-policy.js';

const DAY = 86_400_000;
const t0 = new Date('2030-01-01T00:00:00Z');
const at = (days: number): Date => new Date(t0.getTime() + days * DAY);

const acme: DesiredCertificate = { domains: ['a.test', 'b.test'], keyType: 'ecdsa-p256', issuerId: 'acme:https://ca/dir', acme: true };
const info = (over: Partial<CertificateInfo> = {}): CertificateInfo => ({
  serial: 'AB12',
  notBefore: t0,
  notAfter: at(90),
  domains: ['a.test', 'b.test'],
  issuer: 'CN=CA',
  subject: 'CN=a.test',
  selfSigned: false,
  keyType: 'ecdsa-p256',
  fingerprint256: '',
  leafPem: '',
  ...over,
});
const present = (over: Partial<CertificateInfo> = {}, key: 'ok' | 'missing' | 'mismatch' = 'ok'): OnDiskCertificate => ({ state: 'present', info: info(over), key });
const issuance = (over: Partial<IssuanceRecord> = {}): IssuanceRecord => ({ ...emptyIssuanceRecord(), issuerId: acme.issuerId, ...over });
const opts = { forced: false, retry: DEFAULT_RETRY_POLICY, temporaryGraceMs: 10_000 };

describe('renewal time', () => {
  it('is two thirds of the lifetime, brought earlier by renewBefore, replaced by the ARI window', () => {
    expect(renewalTime({ notBefore: t0, notAfter: at(90), serial: 'x' })).toEqual({ at: at(60), basis: 'two-thirds' });
    expect(renewalTime({ notBefore: t0, notAfter: at(90), serial: 'x', renewBeforeMs: 45 * DAY })).toEqual({ at: at(45), basis: 'renewBefore' });
    expect(renewalTime({ notBefore: t0, notAfter: at(90), serial: 'x', renewBeforeMs: 10 * DAY }).basis).toBe('two-thirds');
    const ari = renewalTime({ notBefore: t0, notAfter: at(90), serial: 'x', ari: { start: at(70).toISOString(), end: at(72).toISOString() } });
    expect(ari.basis).toBe('ari');
    expect(ari.at >= at(70) && ari.at <= at(72)).toBe(true);
    // Stable for one serial, spread across serials.
    const again = renewalTime({ notBefore: t0, notAfter: at(90), serial: 'x', ari: { start: at(70).toISOString(), end: at(72).toISOString() } });
    expect(again.at).toEqual(ari.at);
  });
});

describe('decideCertificate', () => {
  it('skips a valid, matching certificate and names the renewal time', () => {
    expect(decideCertificate(acme, present(), issuance(), at(10), opts)).toMatchObject({ action: 'skip', renewAt: at(60), basis: 'two-thirds' });
  });

  it('renews at two thirds, when expired, and on every kind of mismatch', () => {
    const cases: [OnDiskCertificate, IssuanceRecord, Date, RegExp][] = [
      [present(), issuance(), at(60), /renewal due since/],
      [present(), issuance(), at(91), /expired at/],
      [present({ domains: ['a.test'] }), issuance(), at(1), /domains changed \(added b\.test\)/],
      [present({ domains: ['a.test', 'b.test', 'c.test'] }), issuance(), at(1), /removed c\.test/],
      [present({ keyType: 'rsa-2048' }), issuance(), at(1), /key type is rsa-2048; the spec asks for ecdsa-p256/],
      [present(), issuance({ issuerId: 'selfSigned' }), at(1), /issuer changed from selfSigned/],
      [present({ selfSigned: true }), emptyIssuanceRecord(), at(1), /self-signed; the issuer is ACME/],
    ];
    for (const [disk, b, now, reason] of cases) expect(decideCertificate(acme, disk, b, now, opts)).toMatchObject({ action: 'issue', reason: expect.stringMatching(reason) });
  });

  it('adopts a valid certificate it did not write (a migrated certbot one) instead of reissuing', () => {
    expect(decideCertificate(acme, present(), emptyIssuanceRecord(), at(1), opts).action).toBe('skip');
  });

  it('writes a self-signed stand-in first when nothing usable is on disk and the issuer is remote', () => {
    for (const disk of [{ state: 'missing' } as const, { state: 'corrupt', reason: 'x' } as const, present({}, 'missing'), present({}, 'mismatch')])
      expect(decideCertificate(acme, disk, issuance(), at(1), opts).action).toBe('placeholder');
    expect(decideCertificate({ ...acme, issuerId: 'selfSigned', acme: false }, { state: 'missing' }, emptyIssuanceRecord(), at(1), opts)).toMatchObject({ action: 'issue', kind: 'create' });
  });

  it('waits the grace period after a stand-in, then orders', () => {
    const b = issuance({ issuerId: 'selfSigned', temporarySince: at(1).toISOString() });
    const disk = present({ selfSigned: true });
    expect(decideCertificate(acme, disk, b, new Date(at(1).getTime() + 5000), opts)).toMatchObject({ action: 'wait', cause: 'grace' });
    expect(decideCertificate(acme, disk, b, new Date(at(1).getTime() + 10_000), opts)).toMatchObject({ action: 'issue', kind: 'create' });
  });

  it('honours the failure backoff unless forced, and the order bound even when forced', () => {
    const failing = issuance({ failures: 2, nextRetryAt: at(61).toISOString() });
    expect(decideCertificate(acme, present(), failing, at(60.5), opts)).toMatchObject({ action: 'wait', cause: 'backoff', until: at(61) });
    expect(decideCertificate(acme, present(), failing, at(60.5), { ...opts, forced: true }).action).toBe('issue');
    const busy = issuance({ orders: [at(10).toISOString(), new Date(at(10).getTime() + 60_000).toISOString(), new Date(at(10).getTime() + 120_000).toISOString()] });
    const d = decideCertificate(acme, present(), busy, new Date(at(10).getTime() + 180_000), { ...opts, forced: true });
    expect(d).toMatchObject({ action: 'wait', cause: 'order-bound', until: new Date(at(10).getTime() + 3_600_000) });
  });

  it('a forced renewal of a valid certificate says so', () => {
    expect(decideCertificate(acme, present(), issuance(), at(1), { ...opts, forced: true })).toMatchObject({ action: 'issue', kind: 'renew', reason: 'renewal requested' });
  });
});

describe('retry policy', () => {
  it('backs off 1, 2, 4 … minutes, capped at 4 hours', () => {
    expect([1, 2, 3, 4].map((n) => failureBackoffMs(n, DEFAULT_RETRY_POLICY))).toEqual([60_000, 120_000, 240_000, 480_000]);
    expect(failureBackoffMs(20, DEFAULT_RETRY_POLICY)).toBe(4 * 3_600_000);
    expect(failureBackoffMs(10_000, DEFAULT_RETRY_POLICY)).toBe(4 * 3_600_000);
  });

  it('counts orders in a sliding hour', () => {
    const now = at(5);
    const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000).toISOString();
    expect(orderBudget([minutesAgo(90), minutesAgo(50)], now, 2)).toEqual({ recent: [minutesAgo(50)], nextAllowedAt: undefined });
    expect(orderBudget([minutesAgo(50), minutesAgo(10)], now, 2).nextAllowedAt).toEqual(new Date(now.getTime() + 10 * 60_000));
  });
});
