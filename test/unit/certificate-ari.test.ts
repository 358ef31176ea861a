import { webcrypto } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ariCertId, fetchRenewalWindow, pointInWindow } from '../../src/certificates/ari.js';

/** A certificate with the authority key id and serial of RFC 9773's example (section 4.1). */
async function rfcExampleCertificate(): Promise<string> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0087654321',
    name: 'CN=ari.test',
    notBefore: new Date('2030-01-01T00:00:00Z'),
    notAfter: new Date('2030-04-01T00:00:00Z'),
    signingAlgorithm: alg,
    keys,
    extensions: [new x509.AuthorityKeyIdentifierExtension('69885b6b87464041e1b37b847ba0ae2cde01c8d4')],
  } as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]);
  return cert.toString('pem');
}

let server: Server;
let base: string;
const requests: string[] = [];
let offerAri = true;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === '/dir') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(offerAri ? { renewalInfo: `${base}/renewal-info/` } : { newOrder: `${base}/new-order` }));
    if (req.url?.startsWith('/renewal-info/'))
      return void res
        .writeHead(200, { 'content-type': 'application/json', 'retry-after': '3600' })
        .end(JSON.stringify({ suggestedWindow: { start: '2030-02-20T00:00:00Z', end: '2030-02-22T00:00:00Z' }, explanationURL: 'https://ca.test/why' }));
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

describe('ACME Renewal Information (RFC 9773)', () => {
  it('names a certificate as base64url(AKI).base64url(serial), as in the RFC example', async () => {
    expect(await ariCertId(await rfcExampleCertificate())).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });

  it('fetches the suggested window from the directory renewalInfo endpoint and honours Retry-After', async () => {
    const pem = await rfcExampleCertificate();
    const now = new Date('2030-01-15T00:00:00Z');
    const w = await fetchRenewalWindow(`${base}/dir`, pem, now);
    expect(requests).toContain('/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    expect(w).toEqual({
      start: '2030-02-20T00:00:00.000Z',
      end: '2030-02-22T00:00:00.000Z',
      explanationUrl: 'https://ca.test/why',
      checkAgainAt: '2030-01-15T01:00:00.000Z',
    });
    const point = pointInWindow(w!, 'AB12');
    expect(point >= new Date(w!.start) && point <= new Date(w!.end)).toBe(true);
  });

  it('returns nothing when the CA offers no renewalInfo (Pebble 2.4, older CAs)', async () => {
    offerAri = false;
    expect(await fetchRenewalWindow(`${base}/dir`, await rfcExampleCertificate(), new Date())).toBeUndefined();
    offerAri = true;
  });

  it('fails with the cause when the CA is unreachable', async () => {
    await expect(fetchRenewalWindow('http://127.0.0.1:1/dir', await rfcExampleCertificate(), new Date())).rejects.toThrow(/ECONNREFUSED/);
  });
});
