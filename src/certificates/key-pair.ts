import { createPrivateKey, generateKeyPair, type KeyObject, type X509Certificate } from 'node:crypto';
import type { CertificateKeyType } from '../manifests/kinds/certificate.js';

/** A new private key as PKCS#8 PEM. A fresh key on every issuance: a leaked old key dies with its certificate. */
export async function generatePrivateKey(type: CertificateKeyType): Promise<string> {
  const encoding = { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } } as const;
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _pub: string, priv: string): void => (err ? reject(err) : resolve(priv));
    if (type === 'ecdsa-p256') generateKeyPair('ec', { namedCurve: 'P-256', ...encoding }, done);
    else generateKeyPair('rsa', { modulusLength: type === 'rsa-2048' ? 2048 : 4096, ...encoding }, done);
  });
}

/** The key type a certificate's public key has, or undefined for anything the spec cannot ask for. */
export function keyTypeOf(key: KeyObject): CertificateKeyType | undefined {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  if (key.asymmetricKeyType === 'rsa' && details?.modulusLength === 2048) return 'rsa-2048';
  if (key.asymmetricKeyType === 'rsa' && details?.modulusLength === 4096) return 'rsa-4096';
  return undefined;
}

/** Whether `keyPem` is the private half of the certificate's key; false for unparsable keys. */
export function keyMatchesCertificate(cert: X509Certificate, keyPem: string): boolean {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}
