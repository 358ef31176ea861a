import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, readCertificateFiles, writeCertificateFiles } from '../../src/certificates/cert-store.js';
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

describe('certificate files', () => {
  it('writes the key 0600 and the chain, and reads them back as a matching pair', async () => {
    const keyPem = await generatePrivateKey('ecdsa-p256');
    const chain = await new SelfSignedIssuer(DAY).issue({ domains: ['a.local'], keyType: 'ecdsa-p256', keyPem, now: new Date() });
    const cert = join(dir, 'ssl', 'cert.pem');
    const key = join(dir, 'ssl', 'key.pem');
    await writeCertificateFiles(cert, key, chain, keyPem);
    expect((await stat(key)).mode & 0o777).toBe(0o600);
    expect(await readFile(key, 'utf8')).toBe(keyPem);
    const disk = await readCertificateFiles(cert, key);
    expect(disk).toMatchObject({ state: 'present', key: 'ok', info: { domains: ['a.local'] } });
  });

  it('reports a missing certificate, a corrupt one, a missing key and a key of another certificate', async () => {
    const cert = join(dir, 'x', 'cert.pem');
    const key = join(dir, 'x', 'key.pem');
    expect(await readCertificateFiles(cert, key)).toEqual({ state: 'missing' });

    const keyPem = await generatePrivateKey('ecdsa-p256');
    await writeCertificateFiles(cert, key, await new SelfSignedIssuer(DAY).issue({ domains: ['a.local'], keyType: 'ecdsa-p256', keyPem, now: new Date() }), keyPem);
    await writeFile(key, await generatePrivateKey('ecdsa-p256'));
    expect(await readCertificateFiles(cert, key)).toMatchObject({ state: 'present', key: 'mismatch' });
    await unlink(key);
    expect(await readCertificateFiles(cert, key)).toMatchObject({ state: 'present', key: 'missing' });

    const full = await readFile(cert, 'utf8');
    await writeFile(cert, full.slice(0, full.length / 2)); // a half-written file, as a non-atomic copy leaves it
    expect(await readCertificateFiles(cert, key)).toMatchObject({ state: 'corrupt', reason: expect.stringMatching(/does not parse/) });
  });
});
