import { createPrivateKey, X509Certificate } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, readCertificatePair } from '../../src/certificates/cert-store.js';
import { adoptPlainPair, pairPaths, writeCertificatePair } from '../../src/certificates/pair-store.js';
import { generatePrivateKey } from '../../src/certificates/key-pair.js';
import { SelfSignedIssuer } from '../../src/certificates/self-signed-issuer.js';

const DAY = 86_400_000;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cert-unit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SelfSignedIssuer', () => {
  it.each(['ecdsa-p256', 'rsa-2048'] as const)('issues a %s server certificate for every SAN, valid from the injected clock', async (keyType) => {
    const now = new Date('2031-03-01T00:00:00Z');
    const keyPem = await generatePrivateKey(keyType);
    const pem = await new SelfSignedIssuer(90 * DAY).issue({ domains: ['certitrack.local', 'www.certitrack.local'], keyType, keyPem, now });
    const info = parseCertificate(pem);
    expect(info.domains).toEqual(['certitrack.local', 'www.certitrack.local']);
    expect(info.selfSigned).toBe(true);
    expect(info.keyType).toBe(keyType);
    expect(info.notAfter.getTime()).toBe(now.getTime() + 90 * DAY);
    expect(info.notBefore.getTime()).toBeLessThan(now.getTime()); // back-dated for clock skew
    const cert = new X509Certificate(pem);
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(cert.checkHost('www.certitrack.local')).toBe('www.certitrack.local');
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.1'); // serverAuth
  });

  it('gives each certificate a fresh positive serial', async () => {
    const keyPem = await generatePrivateKey('ecdsa-p256');
    const issuer = new SelfSignedIssuer(DAY);
    const serials = new Set<string>();
    for (let i = 0; i < 40; i++) serials.add(parseCertificate(await issuer.issue({ domains: ['a.local'], keyType: 'ecdsa-p256', keyPem, now: new Date() })).serial);
    expect(serials.size).toBe(40);
    for (const s of serials) {
      expect(s).toHaveLength(32); // 16 bytes, the first neither a sign byte nor a leading zero
      expect(parseInt(s.slice(0, 2), 16)).toBeGreaterThanOrEqual(0x40);
      expect(parseInt(s.slice(0, 2), 16)).toBeLessThan(0x80);
    }
  });
});

const selfSignedPair = async (domain = 'a.local'): Promise<{ chain: string; keyPem: string }> => {
  const keyPem = await generatePrivateKey('ecdsa-p256');
  return { chain: await new SelfSignedIssuer(DAY).issue({ domains: [domain], keyType: 'ecdsa-p256', keyPem, now: new Date() }), keyPem };
};

describe('certificate pair on disk', () => {
  it('writes key (0600) and chain into a version folder, links certFile and keyFile to it, and reads them back as a matching pair', async () => {
    const p = pairPaths(join(dir, 'ssl', 'cert.pem'), join(dir, 'ssl', 'key.pem'));
    const { chain, keyPem } = await selfSignedPair();
    await writeCertificatePair(p, chain, keyPem);
    expect(await readlink(p.certFile)).toBe('.certitrack-cert.pem/current/cert.pem');
    expect(await readlink(p.keyFile)).toBe('.certitrack-cert.pem/current/key.pem');
    expect((await stat(p.keyFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(p.keyFile, 'utf8')).toBe(keyPem);
    const { disk, layout } = await readCertificatePair(p);
    expect(layout).toBe('linked');
    expect(disk).toMatchObject({ state: 'present', key: 'ok', info: { domains: ['a.local'] } });
  });

  it('keeps the previous pair beside the current one and removes older ones', async () => {
    const p = pairPaths(join(dir, 'keep', 'cert.pem'), join(dir, 'keep', 'key.pem'));
    const serials: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { chain, keyPem } = await selfSignedPair(`v${i}.local`);
      await writeCertificatePair(p, chain, keyPem);
      serials.push(parseCertificate(chain).serial);
    }
    const versions = (await readdir(p.store)).filter((e) => e !== 'current');
    expect(versions).toHaveLength(2);
    const kept = await Promise.all(versions.map(async (v) => parseCertificate(await readFile(join(p.store, v, 'cert.pem'), 'utf8')).serial));
    expect(kept.sort()).toEqual(serials.slice(2).sort());
    expect((await readCertificatePair(p)).disk).toMatchObject({ state: 'present', info: { serial: serials[3] } });
  });

  it('adopts plain files from before without changing a byte a reader gets', async () => {
    const p = pairPaths(join(dir, 'plain', 'cert.pem'), join(dir, 'plain', 'key.pem'));
    const { chain, keyPem } = await selfSignedPair();
    await mkdir(join(dir, 'plain'));
    await writeFile(p.certFile, chain);
    await writeFile(p.keyFile, keyPem, { mode: 0o600 });
    expect((await readCertificatePair(p)).layout).toBe('plain');
    await adoptPlainPair(p);
    expect((await lstat(p.certFile)).isSymbolicLink()).toBe(true);
    expect(await readFile(p.certFile, 'utf8')).toBe(chain);
    expect(await readFile(p.keyFile, 'utf8')).toBe(keyPem);
    expect((await stat(p.keyFile)).mode & 0o777).toBe(0o600);
    expect(await readCertificatePair(p)).toMatchObject({ layout: 'linked', disk: { state: 'present', key: 'ok' } });
  });

  it('reports a missing certificate, a corrupt one, a missing key and a key of another certificate', async () => {
    const p = pairPaths(join(dir, 'x', 'cert.pem'), join(dir, 'x', 'key.pem'));
    expect(await readCertificatePair(p)).toEqual({ layout: 'absent', disk: { state: 'missing' } });

    const { chain, keyPem } = await selfSignedPair();
    await writeCertificatePair(p, chain, keyPem);
    await writeFile(p.keyFile, await generatePrivateKey('ecdsa-p256'));
    expect((await readCertificatePair(p)).disk).toMatchObject({ state: 'present', key: 'mismatch' });
    await unlink(p.keyFile);
    expect(await readCertificatePair(p)).toMatchObject({ layout: 'plain', disk: { state: 'present', key: 'missing' } });

    const full = await readFile(p.certFile, 'utf8');
    await writeFile(p.certFile, full.slice(0, full.length / 2)); // a half-written file, as a non-atomic copy leaves it
    expect((await readCertificatePair(p)).disk).toMatchObject({ state: 'corrupt', reason: expect.stringMatching(/does not parse/) });
  });
});
