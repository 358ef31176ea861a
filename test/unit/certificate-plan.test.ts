import { describe, expect, it } from 'vitest';
import type { CertificateInfo, OnDiskCertificate } from '../../src/certificates/cert-store.js';
import { emptyIssuanceRecord, type IssuanceRecord } from '../../src/certificates/issuance-record.js';
import type { PairLayout } from '../../src/certificates/pair-store.js';
import { DEFAULT_RETRY_POLICY, failureBackoffMs, orderBudget, renewalTime } from '../../src/certificates/renewal-policy.js';
import { certificateSpec } from '../../src/manifests/kinds/certificate.js';
import type { Resource } from '../../src/manifests/resource.js';
import { type CertificateAction, DEFAULT_PLAN_POLICY, plan, type PlanPolicy } from '../../src/reconcilers/certificate/plan.js';

const DAY = 86_400_000;
const t0 = new Date('2030-01-01T00:00:00Z');
const at = (days: number): Date => new Date(t0.getTime() + days * DAY);

type CertResource = Resource<ReturnType<typeof certificateSpec.parse>>;
const resource = (spec: Record<string, unknown> = {}): CertResource =>
  ({
    kind: 'Certificate',
    name: 'site',
    labels: {},
    source: { file: 'cert.yaml', dir: '/m' },
    spec: certificateSpec.parse({
      domains: ['a.test', 'b.test'],
      issuer: { acme: { directory: 'https://ca/dir', email: 'ops@a.test' } },
      certFile: './ssl/cert.pem',
      keyFile: './ssl/key.pem',
      reload: ['nginx'],
      ...spec,
    }),
  }) as unknown as CertResource;
const acme = resource();
const selfSigned = resource({ issuer: { selfSigned: {} } });
const ACME_ID = 'acme:https://ca/dir';

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
const issuance = (over: Partial<IssuanceRecord> = {}): IssuanceRecord => ({ ...emptyIssuanceRecord(), issuerId: ACME_ID, ...over });
const seen = (disk: OnDiskCertificate, record: IssuanceRecord = issuance(), layout: PairLayout = 'linked') => ({ disk, record, layout, tracked: true, recordVersion: 0 });
const planned = (r: CertResource | undefined, disk: OnDiskCertificate, record?: IssuanceRecord, now = at(10), policy: Partial<PlanPolicy> = {}, layout?: PairLayout): CertificateAction[] =>
  plan(r, seen(disk, record, layout), now, { ...DEFAULT_PLAN_POLICY, ...policy });
const types = (actions: CertificateAction[]): string[] => actions.map((a) => (a.type === 'reload' ? `reload:${a.service}${a.afterWrite ? '' : '(retry)'}` : a.type === 'wait' ? `wait:${a.cause}` : a.type));

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

describe('plan', () => {
  it('notes a valid, matching certificate and names the renewal time; nothing counts as a change', () => {
    const actions = planned(acme, present());
    expect(actions).toEqual([{ type: 'valid', action: 'note', renewAt: at(60), basis: 'two-thirds', reason: `valid until ${at(90).toISOString()}; renews at ${at(60).toISOString()} (two-thirds)` }]);
  });

  it('renews at two thirds, when expired, and on every kind of mismatch, then reloads each service', () => {
    const cases: [OnDiskCertificate, IssuanceRecord, Date, RegExp][] = [
      [present(), issuance(), at(60), /^renew: renewal due since/],
      [present(), issuance(), at(91), /^renew: expired at/],
      [present({ domains: ['a.test'] }), issuance(), at(1), /domains changed \(added b\.test\)/],
      [present({ domains: ['a.test', 'b.test', 'c.test'] }), issuance(), at(1), /removed c\.test/],
      [present({ keyType: 'rsa-2048' }), issuance(), at(1), /key type is rsa-2048; the spec asks for ecdsa-p256/],
      [present(), issuance({ issuerId: 'selfSigned' }), at(1), /issuer changed from selfSigned/],
      [present({ selfSigned: true }), emptyIssuanceRecord(), at(1), /self-signed; the issuer is ACME/],
    ];
    for (const [disk, b, now, reason] of cases) {
      const actions = planned(acme, disk, b, now);
      expect(types(actions)).toEqual(['issue', 'reload:nginx']);
      expect(actions[0]).toMatchObject({ type: 'issue', action: 'issue', renewal: true, reason: expect.stringMatching(reason) });
      expect(actions[1]).toEqual({ type: 'reload', action: 'reload', service: 'nginx', afterWrite: true, reason: 'reload nginx: certificate changed' });
    }
  });

  it('shows what changed in the spec as fields', () => {
    expect(planned(acme, present({ domains: ['a.test'] }), issuance(), at(1))[0]?.changes).toEqual([{ path: 'spec.domains', from: '["a.test"]', to: '["a.test","b.test"]' }]);
    expect(planned(acme, present({ keyType: 'rsa-2048' }), issuance(), at(1))[0]?.changes).toEqual([{ path: 'spec.keyType', from: '"rsa-2048"', to: '"ecdsa-p256"' }]);
    expect(planned(acme, present(), issuance({ issuerId: 'selfSigned' }), at(1))[0]?.changes).toEqual([{ path: 'spec.issuer', from: '"selfSigned"', to: `"${ACME_ID}"` }]);
  });

  it('adopts a valid certificate it did not write (a migrated certbot one) instead of reissuing', () => {
    expect(types(planned(acme, present(), emptyIssuanceRecord(), at(1)))).toEqual(['valid']);
  });

  it('moves plain files into the linked layout first, without reissuing a valid pair', () => {
    expect(types(planned(acme, present(), issuance(), at(10), {}, 'plain'))).toEqual(['adopt', 'valid']);
    expect(types(planned(acme, present(), issuance(), at(60), {}, 'plain'))).toEqual(['adopt', 'issue', 'reload:nginx']);
    // A broken pair is not worth adopting: the new one replaces it.
    expect(types(planned(acme, present({}, 'mismatch'), issuance(), at(10), {}, 'plain'))).toEqual(['stand-in', 'reload:nginx', 'wait:grace']);
  });

  it('writes a self-signed stand-in first when nothing usable is on disk and the issuer is remote, then waits the grace period', () => {
    for (const disk of [{ state: 'missing' } as const, { state: 'corrupt', reason: 'x' } as const, present({}, 'missing'), present({}, 'mismatch')]) {
      const actions = planned(acme, disk, issuance(), at(1));
      expect(types(actions)).toEqual(['stand-in', 'reload:nginx', 'wait:grace']);
      expect(actions[2]).toMatchObject({ until: new Date(at(1).getTime() + 10_000) });
    }
    expect(types(planned(selfSigned, { state: 'missing' }, emptyIssuanceRecord(), at(1)))).toEqual(['issue', 'reload:nginx']);
    // Forced: no grace, the order goes right after the stand-in.
    expect(types(planned(acme, { state: 'missing' }, issuance(), at(1), { forced: true }))).toEqual(['stand-in', 'issue', 'reload:nginx']);
  });

  it('orders once the grace after a stand-in is over', () => {
    const b = issuance({ issuerId: 'selfSigned', temporarySince: at(1).toISOString() });
    const disk = present({ selfSigned: true });
    expect(types(planned(acme, disk, b, new Date(at(1).getTime() + 5000)))).toEqual(['wait:grace']);
    expect(planned(acme, disk, b, new Date(at(1).getTime() + 10_000))[0]).toMatchObject({ type: 'issue', renewal: false });
  });

  it('honours the failure backoff unless forced, and the order bound even when forced', () => {
    const failing = issuance({ failures: 2, nextRetryAt: at(61).toISOString() });
    expect(planned(acme, present(), failing, at(60.5))).toEqual([expect.objectContaining({ type: 'wait', action: 'wait', cause: 'backoff', until: at(61) })]);
    expect(types(planned(acme, present(), failing, at(60.5), { forced: true }))).toEqual(['issue', 'reload:nginx']);
    const busy = issuance({ orders: [at(10).toISOString(), new Date(at(10).getTime() + 60_000).toISOString(), new Date(at(10).getTime() + 120_000).toISOString()] });
    const d = planned(acme, present(), busy, new Date(at(10).getTime() + 180_000), { forced: true });
    expect(d).toEqual([expect.objectContaining({ type: 'wait', cause: 'order-bound', until: new Date(at(10).getTime() + 3_600_000) })]);
  });

  it('a forced renewal of a valid certificate says so', () => {
    expect(planned(acme, present(), issuance(), at(1), { forced: true })[0]).toMatchObject({ type: 'issue', renewal: true, reason: 'renew: renewal requested' });
  });

  it('retries a reload that failed, without issuing again, while waiting or valid', () => {
    const pending = issuance({ pendingReload: ['nginx', 'gone'] });
    expect(types(planned(acme, present(), pending))).toEqual(['valid', 'reload:nginx(retry)']);
    expect(planned(acme, present(), pending)[1]).toMatchObject({ reason: 'reload nginx: certificate changed; the last reload failed' });
    const waiting = issuance({ pendingReload: ['nginx'], failures: 1, nextRetryAt: at(61).toISOString() });
    expect(types(planned(acme, present(), waiting, at(60.5)))).toEqual(['reload:nginx(retry)', 'wait:backoff']);
  });

  it('forgets a certificate no longer declared, leaving its files', () => {
    expect(plan(undefined, seen({ state: 'missing' }), at(1))).toEqual([{ type: 'forget', action: 'note', reason: 'no longer declared: the files stay in place and are no longer renewed' }]);
    expect(plan(undefined, { ...seen({ state: 'missing' }), tracked: false }, at(1))).toEqual([]);
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
