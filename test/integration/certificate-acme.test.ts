import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, unlink, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Dockerode from 'dockerode';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerClients } from '../../src/adapters/docker/index.js';
import { configureAcmeRetries } from '../../src/certificates/acme-http.js';
import { parseCertificate } from '../../src/certificates/cert-store.js';
import { generatePrivateKey } from '../../src/certificates/key-pair.js';
import { SelfSignedIssuer } from '../../src/certificates/self-signed-issuer.js';
import type { DesiredState } from '../../src/manifests/desired-state.js';
import { loadManifests } from '../../src/manifests/load.js';
import { DEFAULT_POLICY, hostRules } from '../../src/manifests/host-policy.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { CertificateReconciler } from '../../src/reconcilers/certificate/certificate-reconciler.js';
import { AcmeResponder } from '../../src/server/acme-responder.js';
import { DurableState } from '../../src/state/durable-state.js';
import { StatusBoard } from '../../src/state/status-board.js';
import { planOnce, reconcileOnce } from '../helpers/contract.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';

const DAY = 86_400_000;

interface ReaderStats {
  samples: number;
  mismatches: number;
  errors: number;
  straddled: number;
  serials: string[];
}

let pebble: Pebble;
let server: Server;
let challengeRequests = 0;
let root: string;
let manifests: string;
let state: DurableState;
let status: StatusBoard;
let registry: Registry;
let reconciler: CertificateReconciler;
/** Same state, a tighter order bound: for the rate-bound scenario only. */
let bounded: CertificateReconciler;
let clock = new Date();
const logLines: string[] = [];
const keysSeen: string[] = [];
const log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });

function manifest(name: string, domains: string[], extra = ''): string {
  return `apiVersion: certitrack.io/v1
kind: Certificate
metadata: { name: ${name} }
spec:
  domains: [${domains.join(', ')}]
  issuer:
    acme:
      directory: ${pebble.directoryUrl}
      email: ops@certitrack.test
      skipChallengeVerification: true
      caFile: ${pebble.caFile}
  certFile: ./out/${name}/cert.pem
  keyFile: ./out/${name}/key.pem
${extra}---
`;
}

const domainsOf: Record<string, string[]> = {
  site: ['site.certitrack.test', 'www.certitrack.test'],
  down: ['down.certitrack.test'],
  bounded: ['bounded.certitrack.test'],
  never: ['never.certitrack.test'],
  atomic: ['atomic.certitrack.test'],
};

async function desired(): Promise<DesiredState> {
  await writeFile(join(manifests, 'certs.yaml'), Object.entries(domainsOf).map(([n, d]) => manifest(n, d)).join(''));
  // Pebble's CA file lives in Pebble's own folder: the host policy allows reading it.
  const res = await loadManifests(manifests, { secrets: new StaticSecrets({}), rules: hostRules({ ...DEFAULT_POLICY, allowedRoots: [dirname(pebble.caFile)] }) });
  if (!res.ok) throw new Error(JSON.stringify(res.errors));
  return res.state;
}

const reconcile = async (name: string, r = reconciler) => reconcileOnce(r, name, await desired(), status, { now: () => clock, log });
const planFor = async (name: string) => planOnce(reconciler, name, await desired(), { now: () => clock, log });

const files = (name: string) => ({ cert: join(manifests, 'out', name, 'cert.pem'), key: join(manifests, 'out', name, 'key.pem') });

async function onDisk(name: string) {
  const f = files(name);
  const pem = await readFile(f.cert, 'utf8');
  const key = await readFile(f.key, 'utf8');
  if (!keysSeen.includes(key)) keysSeen.push(key);
  return { pem, key, info: parseCertificate(pem) };
}

const accountFile = (): string => join(root, 'state', 'acme', `account-${createHash('sha256').update(pebble.directoryUrl).digest('hex').slice(0, 16)}.key`);

const condition = (name: string, type: 'Ready' | 'Issuing') => status.get(`Certificate/${name}`)?.conditions.find((c) => c.type === type);
const ready = (name: string) => condition(name, 'Ready');
const issuing = (name: string) => condition(name, 'Issuing');

/** Reconciles past the self-signed stand-in (written first, then ACME after the grace period). */
async function issueFresh(name: string, r = reconciler): Promise<number> {
  const first = await reconcile(name, r);
  expect(ready(name)?.reason).toBe('Issuing');
  expect(issuing(name)).toMatchObject({ status: 'True', reason: 'Pending' });
  expect((await onDisk(name)).info.selfSigned).toBe(true);
  expect(first.requeueAfterMs).toBe(10_000);
  clock = new Date(clock.getTime() + 10_001);
  const t0 = performance.now();
  await reconcile(name, r);
  return performance.now() - t0;
}

beforeAll(async () => {
  configureAcmeRetries({ maxAttempts: 0, delaySeconds: 1 });
  const responder = new AcmeResponder();
  server = createServer((req, res) => {
    if (req.url?.startsWith('/.well-known/acme-challenge/')) challengeRequests++;
    if (!responder.handle(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  pebble = await startPebble({ httpPort: (server.address() as AddressInfo).port });
  root = await mkdtemp(join(tmpdir(), 'cert-acme-'));
  manifests = join(root, 'manifests');
  await mkdir(manifests);
  state = await DurableState.open(join(root, 'state'));
  status = new StatusBoard(state, () => clock);
  registry = new Registry();
  reconciler = new CertificateReconciler(dockerClients(new Dockerode()), responder, state, registry, {
    instance: 'cert-acme-test',
    stateDir: join(root, 'state'),
    now: () => clock,
    retry: { maxOrdersPerHour: 20 },
  });
  bounded = new CertificateReconciler(dockerClients(new Dockerode()), responder, state, new Registry(), {
    instance: 'cert-acme-test',
    stateDir: join(root, 'state'),
    now: () => clock,
    retry: { maxOrdersPerHour: 2 },
  });
}, 30_000);

afterAll(async () => {
  await pebble?.stop();
  server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('Certificate against Pebble', () => {
  it('issues over real http-01, writes the key 0600 and reuses the account key', async () => {
    const ms = await issueFresh('site');
    const { info, pem } = await onDisk('site');
    expect(info.issuer).toMatch(/Pebble/);
    expect(info.domains).toEqual(domainsOf.site);
    expect(challengeRequests).toBeGreaterThanOrEqual(2); // one validation per name, served by the responder
    // The chain verifies up to the root Pebble generated on this start.
    const [leaf, intermediate] = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) as string[];
    const rootCert = new X509Certificate(await pebble.root());
    expect(new X509Certificate(leaf as string).verify(new X509Certificate(intermediate as string).publicKey)).toBe(true);
    expect(new X509Certificate(intermediate as string).verify(rootCert.publicKey)).toBe(true);
    expect((await stat(files('site').key)).mode & 0o777).toBe(0o600);
    expect(ready('site')).toMatchObject({ status: 'True', reason: 'Valid' });
    const details = status.get('Certificate/site')?.details;
    expect(details).toMatchObject({ serial: info.serial, notAfter: info.notAfter.toISOString(), domains: domainsOf.site, lastError: null });
    const metrics = await registry.getSingleMetricAsString('certitrack_certificate_expiration_timestamp_seconds');
    expect(metrics).toContain(`certitrack_certificate_expiration_timestamp_seconds{certificate="site"} ${Math.floor(info.notAfter.getTime() / 1000)}`);
    const accountFiles = await readdir(join(root, 'state', 'acme'));
    expect(accountFiles).toHaveLength(1);
    expect((await stat(accountFile())).mode & 0o777).toBe(0o600);
    console.log(`ACME issuance over http-01: ${ms.toFixed(0)} ms`);
  });

  it('plans skip while valid, then renews when two thirds of the lifetime have passed (injected clock)', async () => {
    const before = await onDisk('site');
    const accountBefore = await readFile(accountFile(), 'utf8');
    const plan = await planFor('site');
    expect(plan).toEqual([expect.objectContaining({ type: 'valid', action: 'note', reason: expect.stringMatching(/renews at .*two-thirds/) })]);
    const lifetime = before.info.notAfter.getTime() - before.info.notBefore.getTime();
    clock = new Date(before.info.notBefore.getTime() + lifetime * 0.67);
    expect((await planFor('site')).map((a) => a.type)).toEqual(['issue']); // no reload target declared
    expect((await planFor('site'))[0]).toMatchObject({ action: 'issue', reason: expect.stringMatching(/^renew: renewal due/) });
    await reconcile('site');
    const after = await onDisk('site');
    expect(after.info.serial).not.toBe(before.info.serial);
    expect(after.key).not.toBe(before.key); // a fresh key per certificate
    const accountAfter = await readFile(accountFile(), 'utf8');
    expect(await readdir(join(root, 'state', 'acme'))).toHaveLength(1);
    expect(accountAfter).toBe(accountBefore);
    clock = new Date();
    await reconcile('site');
    expect(ready('site')).toMatchObject({ status: 'True', reason: 'Valid' });
  });

  it('reissues when the manifest adds a domain, and when the key file is deleted', async () => {
    const before = await onDisk('site');
    domainsOf.site = [...(domainsOf.site as string[]), 'api.certitrack.test'];
    expect((await planFor('site'))[0]).toMatchObject({
      action: 'issue',
      reason: expect.stringMatching(/domains changed \(added api\.certitrack\.test\)/),
      changes: [{ path: 'spec.domains', from: JSON.stringify(before.info.domains), to: JSON.stringify(domainsOf.site) }],
    });
    await reconcile('site');
    const widened = await onDisk('site');
    expect(widened.info.domains).toEqual(domainsOf.site);
    expect(widened.info.serial).not.toBe(before.info.serial);

    await unlink(files('site').key);
    clock = new Date(clock.getTime() + 1000);
    // Without its key the certificate is useless to nginx: a stand-in goes first, then the ACME order.
    await issueFresh('site');
    const rekeyed = await onDisk('site');
    expect(rekeyed.info.issuer).toMatch(/Pebble/);
    expect(new X509Certificate(rekeyed.info.leafPem).checkPrivateKey(createPrivateKey(rekeyed.key))).toBe(true);

    await writeFile(files('site').cert, '-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n');
    expect((await planFor('site'))[0]).toMatchObject({ type: 'stand-in', action: 'create', reason: expect.stringMatching(/does not parse/) });
    clock = new Date(clock.getTime() + 1000);
    await issueFresh('site');
    expect((await onDisk('site')).info.issuer).toMatch(/Pebble/);
  });

  it('keeps the old certificate when Pebble is down: Ready stays True, Issuing=False IssueFailed shows the error, backs off 1, 2, 4 minutes', async () => {
    await issueFresh('down');
    const good = await onDisk('down');
    await pebble.stopCa();
    try {
      const lifetime = good.info.notAfter.getTime() - good.info.notBefore.getTime();
      clock = new Date(good.info.notBefore.getTime() + lifetime * 0.7);
      const waits: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await reconcile('down');
        waits.push(r.requeueAfterMs as number);
        const now = await onDisk('down');
        expect(now.pem).toBe(good.pem);
        expect(now.key).toBe(good.key);
        // The certificate in place is valid: Ready stays True; the failed renewal is on Issuing.
        expect(ready('down')).toMatchObject({ status: 'True', reason: 'Valid', message: expect.stringMatching(new RegExp(`^serial ${good.info.serial} valid until .*; renewal: cannot reach ACME directory`)) });
        expect(issuing('down')).toMatchObject({ status: 'False', reason: 'IssueFailed' });
        expect(issuing('down')?.message).toMatch(/cannot reach ACME directory .*ECONNREFUSED.*; next retry at \S+$/);
        expect(issuing('down')?.message).toContain(`next retry at ${new Date(clock.getTime() + waits[i]!).toISOString()}`);
        const details = status.get('Certificate/down')?.details as Record<string, unknown>;
        expect(details.lastError).toMatch(/ECONNREFUSED/);
        expect(details.nextRetry).toBe(new Date(clock.getTime() + waits[i]!).toISOString());
        expect(details.serial).toBe(good.info.serial);
        // Before the retry time, nothing is attempted.
        const early = await reconcile('down');
        expect(early.requeueAfterMs).toBe(waits[i]);
        clock = new Date(clock.getTime() + (waits[i] as number));
      }
      expect(waits).toEqual([60_000, 120_000, 240_000]);

      // A certificate that never got its ACME one has only a stand-in in place: Ready is False too.
      await reconcile('never');
      clock = new Date(clock.getTime() + 10_001);
      await reconcile('never');
      expect(ready('never')).toMatchObject({ status: 'False', reason: 'IssueFailed', message: expect.stringMatching(/cannot reach ACME directory .*; next retry at .*; the current certificate .* stays in place/) });
      expect(issuing('never')).toMatchObject({ status: 'False', reason: 'IssueFailed' });
      expect(await registry.getSingleMetricAsString('certitrack_certificate_ready_status')).toContain('certitrack_certificate_ready_status{certificate="down",condition="True"} 1');
      expect(await registry.getSingleMetricAsString('certitrack_certificate_issuances_total')).toContain('certitrack_certificate_issuances_total{certificate="down",result="failure"} 3');
    } finally {
      await pebble.startCa();
    }
    await reconcile('down');
    const renewed = await onDisk('down');
    clock = new Date(); // Pebble's certificates start at wall time; back to it so the new one is not "due"
    await reconcile('down');
    expect(renewed.info.serial).not.toBe(good.info.serial);
    expect(ready('down')).toMatchObject({ status: 'True', reason: 'Valid' });
    expect(issuing('down')).toMatchObject({ status: 'False', reason: 'Scheduled', message: expect.stringMatching(/^next renewal at /) });
    expect(status.get('Certificate/down')?.details).toMatchObject({ lastError: null, nextRetry: null });
  });

  it('bounds orders per certificate per hour, even for forced renewals', async () => {
    await issueFresh('bounded', bounded); // order 1 of 2 this hour
    const renewed = await bounded.renewNow('bounded', await desired(), { log, status }); // order 2
    expect(renewed.issuer).toMatch(/^acme:/);
    await expect(bounded.renewNow('bounded', await desired(), { log, status })).rejects.toThrow(/2 orders in the last hour reached the bound of 2/);
    // Still valid: Ready stays True; the bound holds the next order back, on Issuing.
    expect(ready('bounded')).toMatchObject({ status: 'True', reason: 'Valid' });
    expect(issuing('bounded')).toMatchObject({ status: 'False', reason: 'OrderRateBound', message: expect.stringMatching(/2 orders in the last hour reached the bound of 2/) });
    expect((await onDisk('bounded')).info.serial).toBe(renewed.serial);
    clock = new Date(clock.getTime() + 3_600_000);
    const later = await bounded.renewNow('bounded', await desired(), { log, status });
    expect(later.serial).not.toBe(renewed.serial);
    clock = new Date();
  });

  it('swaps key and certificate as one unit: a reader sampling in a tight loop never sees a mismatched pair (plain files adopted, issuance, renewals)', async () => {
    clock = new Date();
    // What an older agent (or certbot) left: plain files holding a valid pair, self-signed where ACME is asked for.
    const f = files('atomic');
    await mkdir(dirname(f.cert), { recursive: true });
    const oldKey = await generatePrivateKey('ecdsa-p256');
    await writeFile(f.cert, await new SelfSignedIssuer(30 * DAY).issue({ domains: domainsOf.atomic as string[], keyType: 'ecdsa-p256', keyPem: oldKey, now: clock }));
    await writeFile(f.key, oldKey, { mode: 0o600 });
    const expected = [(await onDisk('atomic')).info.serial];

    const reader = fork(join(import.meta.dirname, '../helpers/pair-reader.mjs'), [f.cert, f.key, join(dirname(f.cert), '.certitrack-cert.pem')]);
    const stats = new Promise<ReaderStats>((resolvePromise) => reader.on('message', (m) => typeof m === 'object' && resolvePromise(m as ReaderStats)));
    await once(reader, 'message'); // ready
    try {
      expect((await planFor('atomic')).map((a) => a.type)).toEqual(['adopt', 'issue']);
      await reconcile('atomic'); // adopted as it is, then the ACME one issued into the linked layout
      expect(await readlink(f.cert)).toBe('.certitrack-cert.pem/current/cert.pem');
      expected.push((await onDisk('atomic')).info.serial);

      const issued = (await onDisk('atomic')).info;
      clock = new Date(issued.notBefore.getTime() + (issued.notAfter.getTime() - issued.notBefore.getTime()) * 0.7);
      await reconcile('atomic'); // renewal
      expected.push((await onDisk('atomic')).info.serial);
      clock = new Date();
      for (let i = 0; i < 3; i++) expected.push((await reconciler.renewNow('atomic', await desired(), { log, status })).serial);

      // Both links deleted by hand: a stand-in goes in first, then the ACME certificate.
      await unlink(f.cert);
      await unlink(f.key);
      clock = new Date(clock.getTime() + 1000);
      await reconcile('atomic');
      expected.push((await onDisk('atomic')).info.serial);
      clock = new Date(clock.getTime() + 10_001);
      await reconcile('atomic');
      expected.push((await onDisk('atomic')).info.serial);
      clock = new Date();
    } finally {
      reader.send('stop');
    }
    const seen = await stats;
    expect(seen.mismatches).toBe(0);
    expect(seen.errors).toBe(0);
    expect(seen.samples).toBeGreaterThan(100);
    // The reader ran across the switches: what it saw is in order, begins with the first pair and
    // ends with the last. On a busy machine it may miss one that was in place only for moments (the
    // stand-in), which is why this is a subsequence, not every one.
    expect(seen.serials[0]).toBe(expected[0]);
    expect(seen.serials.at(-1)).toBe(expected.at(-1));
    const positions = seen.serials.map((serial) => expected.indexOf(serial));
    const inOrder = positions.every((p, i) => p >= 0 && (i === 0 || p > (positions[i - 1] as number)));
    expect(inOrder, `${JSON.stringify(seen.serials)} is not in the order of ${JSON.stringify(expected)}`).toBe(true);
    expect(seen.serials.length).toBeGreaterThanOrEqual(expected.length - 2);
    expect((await stat(files('atomic').key)).mode & 0o777).toBe(0o600);
    console.log(`pair reader: ${seen.samples} samples across ${expected.length - 1} switches, 0 mismatched; two separate opens (as nginx's config load) straddled a switch ${seen.straddled} time(s)`);
  });

  it('forgets a certificate removed from the manifests but leaves its files for nginx', async () => {
    expect(await reconciler.listOwned()).toEqual(expect.arrayContaining(['site', 'down', 'bounded']));
    const kept = await onDisk('bounded');
    delete domainsOf.bounded;
    expect(await planFor('bounded')).toEqual([expect.objectContaining({ type: 'forget', action: 'note', reason: expect.stringMatching(/files stay in place/) })]);
    await reconcile('bounded');
    expect(await reconciler.listOwned()).not.toContain('bounded');
    expect(status.get('Certificate/bounded')).toBeUndefined();
    expect((await onDisk('bounded')).pem).toBe(kept.pem);
  });

  it('never lets a private key into logs, status, metrics or the state file', async () => {
    await state.flush();
    const haystacks = {
      logs: logLines.join('\n'),
      status: JSON.stringify(status.all()),
      metrics: await registry.metrics(),
      state: await readFile(join(root, 'state', 'state.json'), 'utf8'),
    };
    expect(keysSeen.length).toBeGreaterThanOrEqual(6);
    expect(logLines.length).toBeGreaterThan(10);
    for (const key of keysSeen) {
      const body = key.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
      for (const [where, text] of Object.entries(haystacks)) {
        expect(text.includes(body.slice(0, 40)), `key material in ${where}`).toBe(false);
        expect(text.includes(body.slice(-40)), `key material in ${where}`).toBe(false);
      }
    }
    expect(haystacks.logs).not.toMatch(/PRIVATE KEY/);
    expect(haystacks.status).not.toMatch(/PRIVATE KEY/);
  });
});

describe('status details', () => {
  it('show the next renewal at two thirds of the lifetime', async () => {
    const d = status.get('Certificate/site')?.details as Record<string, unknown>;
    const notBefore = Date.parse(d.notBefore as string);
    const notAfter = Date.parse(d.notAfter as string);
    expect(Math.abs(Date.parse(d.nextRenewal as string) - (notBefore + ((notAfter - notBefore) * 2) / 3))).toBeLessThan(1000);
    expect(notAfter - notBefore).toBeGreaterThan(365 * DAY); // Pebble 2.4 issues 5-year certificates
  });
});
