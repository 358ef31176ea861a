import { createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import type { CertificateKeyType } from '../manifests/kinds/certificate.js';
import type { CertificateIssuer, IssueRequest } from './issuer.js';

type WebCrypto = typeof webcrypto;
x509.cryptoProvider.set(webcrypto as Parameters<typeof x509.cryptoProvider.set>[0] & WebCrypto);

/** Back-dated so that a host whose clock is a little behind still accepts the certificate. */
const CLOCK_SKEW_MS = 5 * 60_000;

function algorithmFor(type: CertificateKeyType): webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams {
  return type === 'ecdsa-p256'
    ? { name: 'ECDSA', namedCurve: 'P-256' }
    : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
}

function signingAlgorithm(type: CertificateKeyType): webcrypto.Algorithm | webcrypto.EcdsaParams {
  return type === 'ecdsa-p256' ? ({ name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams) : { name: 'RSASSA-PKCS1-v1_5' };
}

const pemBody = (pem: string): Buffer => Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');

/**
 * The embedded issuer: a certificate signed by its own key, so nginx can start with TLS on a laptop,
 * before DNS points at the host, or while an ACME order is still pending.
 */
export class SelfSignedIssuer implements CertificateIssuer {
  readonly id = 'selfSigned';

  constructor(private readonly validityMs: number) {}

  async issue(req: IssueRequest): Promise<string> {
    const alg = algorithmFor(req.keyType);
    const subtle = webcrypto.subtle;
    const privateKey = await subtle.importKey('pkcs8', pemBody(req.keyPem), alg, false, ['sign']);
    const spki = createPublicKey(req.keyPem).export({ type: 'spki', format: 'der' });
    const publicKey = await subtle.importKey('spki', spki, alg, true, ['verify']);

    const serial = randomBytes(16);
    // 0x40–0x7f first: a positive INTEGER in minimal DER (no sign byte, no leading zero), 126 random bits.
    serial[0] = ((serial[0] as number) & 0x3f) | 0x40;
    const first = req.domains[0] as string;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial.toString('hex'),
      name: [{ CN: [first.length <= 64 ? first : 'certitrack self-signed'] }],
      notBefore: new Date(req.now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(req.now.getTime() + this.validityMs),
      signingAlgorithm: signingAlgorithm(req.keyType),
      keys: { privateKey, publicKey } as webcrypto.CryptoKeyPair,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(req.domains.map((d) => ({ type: isIP(d) ? 'ip' : 'dns', value: d }))),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
      ],
    });
    return cert.toString('pem') + '\n';
  }
}
