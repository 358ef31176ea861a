import { createPrivateKey, X509Certificate } from 'node:crypto';
import { lstatSync, readlinkSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseCertificate } from '../../certificates/cert-store.js';
import { keyMatchesCertificate } from '../../certificates/key-pair.js';
import { pairPaths } from '../../certificates/pair-store.js';
import { readBoundedFileSync } from '../../util/bounded-read.js';
import type { Resource } from '../resource.js';
import type { CertificateSpec } from '../kinds/certificate.js';
import type { CheckContext } from './check-context.js';

const MAX_PEM_BYTES = 1024 * 1024;

function readText(path: string): string | undefined {
  const r = readBoundedFileSync(path, MAX_PEM_BYTES);
  return r.ok ? r.data.toString('utf8') : undefined;
}

function isPrivateKeyPem(text: string): boolean {
  if (!/-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/.test(text)) return false;
  try {
    return createPrivateKey(text).type === 'private';
  } catch {
    return false;
  }
}

/**
 * Why the agent may replace an existing keyFile, or undefined if it may not. It may when the file is
 * a PEM private key and either
 * - the certificate in certFile is one the agent issued (its serial is in the issuance records; a
 *   crash between writing the key and the certificate leaves a new key beside the old certificate), or
 * - the agent has managed this Certificate before and certFile holds the certificate of this key
 *   (a crash after writing both files but before recording the serial).
 * Without the agent's records (`validate` without --state-dir) a PEM private key is enough.
 */
function overwriteAllowed(ctx: CheckContext, cert: Resource<CertificateSpec>, keyPath: string, keyPem: string): boolean {
  if (!isPrivateKeyPem(keyPem)) return false;
  const issued = ctx.issued;
  if (!issued) return true;
  const certPem = readText(resolve(cert.source.dir, cert.spec.certFile));
  if (certPem === undefined) return false;
  try {
    const info = parseCertificate(certPem);
    if (issued.serials.has(info.serial)) return true;
    return issued.names.has(cert.name) && keyMatchesCertificate(new X509Certificate(info.leafPem), keyPem);
  } catch {
    return false;
  }
}

/** A Certificate's keyFile must not overwrite a file that is not a key the agent wrote (docs/security.md). */
export function checkKeyFiles(ctx: CheckContext): void {
  if (ctx.offline) return; // what is on this host is not the host the manifests run on
  for (const cert of ctx.state.list('Certificate')) {
    const keyPath = resolve(cert.source.dir, cert.spec.keyFile);
    let st;
    try {
      st = lstatSync(keyPath);
    } catch {
      continue; // absent: the agent creates it
    }
    // The agent's own atomic layout: keyFile is its link into the pair's versions (certificates/pair-store.ts).
    if (st.isSymbolicLink() && isAgentPairLink(resolve(cert.source.dir, cert.spec.certFile), keyPath)) continue;
    const problem = !st.isFile()
      ? 'is not a regular file'
      : ((text) => (text !== undefined && overwriteAllowed(ctx, cert, keyPath, text) ? undefined : 'is not a private key the agent wrote'))(readText(keyPath));
    if (problem) ctx.report(cert, ['spec', 'keyFile'], `${keyPath} already exists and ${problem}; the agent will not overwrite it. Remove or move it if it may be replaced`);
  }
}

/** Whether keyFile is the link the agent's pair layout makes (`.certitrack-<certFile>/current/key.pem`). */
function isAgentPairLink(certPath: string, keyPath: string): boolean {
  const store = pairPaths(certPath, keyPath).store;
  try {
    return readlinkSync(keyPath) === relative(dirname(keyPath), join(store, 'current', 'key.pem'));
  } catch {
    return false;
  }
}
