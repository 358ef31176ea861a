import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { CertificateKeyType } from '../manifests/kinds/certificate.js';
import { keyMatchesCertificate, keyTypeOf } from './key-pair.js';
import { type PairLayout, type PairPaths, pairLayout, resolvePair } from './pair-store.js';

/** What a certificate says about itself; never includes key material. */
export interface CertificateInfo {
  /** Upper-case hex, as browsers and openssl print it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** DNS names from the subjectAltName extension, lower-case, in certificate order. */
  domains: string[];
  issuer: string;
  subject: string;
  selfSigned: boolean;
  keyType: CertificateKeyType | undefined;
  fingerprint256: string;
  /** The leaf alone, PEM: what ARI needs to name the certificate. */
  leafPem: string;
}

export type OnDiskCertificate =
  | { state: 'missing' }
  | { state: 'corrupt'; reason: string }
  | { state: 'present'; info: CertificateInfo; key: 'ok' | 'missing' | 'mismatch' };

/** A certificate file larger than this is not a certificate chain. */
const MAX_PEM_BYTES = 1024 * 1024;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function parseCertificate(pem: string): CertificateInfo {
  const blocks = pem.match(PEM_BLOCK);
  if (!blocks || blocks.length === 0) throw new Error('no PEM certificate block');
  const leafPem = blocks[0] + '\n';
  const cert = new X509Certificate(leafPem);
  const selfSigned = cert.issuer === cert.subject && cert.verify(cert.publicKey);
  return {
    serial: cert.serialNumber.toUpperCase(),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    domains: dnsNames(cert.subjectAltName),
    issuer: cert.issuer.replace(/\n/g, ', '),
    subject: cert.subject.replace(/\n/g, ', '),
    selfSigned,
    keyType: keyTypeOf(cert.publicKey),
    fingerprint256: cert.fingerprint256,
    leafPem,
  };
}

function dnsNames(san: string | undefined): string[] {
  if (!san) return [];
  return san
    .split(/,\s*/)
    .filter((part) => part.startsWith('DNS:'))
    .map((part) => part.slice(4).replace(/^"|"$/g, '').toLowerCase());
}

/**
 * Reads the certificate and key files as nginx would. A missing key, an unparsable certificate or a
 * key that is not the certificate's are all reported, not thrown: each one means "reissue".
 */
export async function readCertificateFiles(certPath: string, keyPath: string): Promise<OnDiskCertificate> {
  let pem: string;
  try {
    const st = await stat(certPath);
    if (st.size > MAX_PEM_BYTES) return { state: 'corrupt', reason: `certificate file is ${st.size} bytes` };
    pem = await readFile(certPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { state: 'missing' };
    return { state: 'corrupt', reason: `cannot read certificate file (${code ?? 'error'})` };
  }
  let info: CertificateInfo;
  try {
    info = parseCertificate(pem);
  } catch (err) {
    return { state: 'corrupt', reason: `certificate file does not parse: ${(err as Error).message}` };
  }
  let keyPem: string;
  try {
    keyPem = await readFile(keyPath, 'utf8');
  } catch {
    return { state: 'present', info, key: 'missing' };
  }
  const cert = new X509Certificate(info.leafPem);
  return { state: 'present', info, key: keyMatchesCertificate(cert, keyPem) ? 'ok' : 'mismatch' };
}

/**
 * The pair at certFile/keyFile as a reader sees it in one consistent look (both files from the same
 * version in the linked layout), and which layout it is in.
 */
export async function readCertificatePair(p: PairPaths): Promise<{ disk: OnDiskCertificate; layout: PairLayout }> {
  const layout = await pairLayout(p);
  const files = await resolvePair(p, layout);
  return { disk: await readCertificateFiles(files.cert, files.key), layout };
}
