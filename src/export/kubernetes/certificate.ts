import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Certificate, Issuer, type IIssuerSpec } from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import { LETSENCRYPT_DIRECTORIES, type AcmeIssuerSpec, type CertificateSpec } from '../../manifests/kinds/certificate.js';
import type { Resource } from '../../manifests/resource.js';
import type { ExportContext } from './context.js';
import { kubeName } from './names.js';
import { SECRET_NAME, type SecretRefValue } from './secret-keys.js';
import { exactDuration } from './units.js';

/** Where cert-manager keeps a Certificate's key pair (tls.crt, tls.key): what pods mount instead of certFile/keyFile. */
export const certificateSecretName = (cert: Resource): string => `${kubeName(cert.name)}-tls`;

const PRIVATE_KEYS: Record<CertificateSpec['keyType'], { algorithm: 'ECDSA' | 'RSA'; size: number }> = {
  'ecdsa-p256': { algorithm: 'ECDSA', size: 256 },
  'rsa-2048': { algorithm: 'RSA', size: 2048 },
  'rsa-4096': { algorithm: 'RSA', size: 4096 },
};

/**
 * A Certificate becomes a cert-manager Certificate and an Issuer of its own (namespaced, so the
 * export stays one self-contained kustomize base): ACME with an http-01 solver through the
 * ingress controller, or self-signed.
 */
export function exportCertificates(ctx: ExportContext): void {
  for (const cert of ctx.state.list('Certificate')) {
    const name = ctx.claim('Certificate', kubeName(cert.name), cert);
    const issuerName = ctx.claim('Issuer', kubeName(cert.name), cert);
    const secretName = ctx.claim('Secret', certificateSecretName(cert), cert);
    if (name === undefined || issuerName === undefined || secretName === undefined) continue;
    const spec = cert.spec;
    const issuer: IIssuerSpec = 'acme' in spec.issuer ? { acme: acmeIssuer(ctx, cert, issuerName, spec.issuer.acme) } : { selfSigned: {} };
    ctx.add(cert, new Issuer({ metadata: { name: issuerName }, spec: issuer }));
    const commonName = spec.domains[0];
    ctx.add(
      cert,
      new Certificate({
        metadata: { name },
        spec: {
          secretName,
          dnsNames: spec.domains,
          // A subject CN is limited to 64 characters; the SANs are what clients check anyway.
          ...(commonName !== undefined && commonName.length <= 64 ? { commonName } : {}),
          issuerRef: { group: 'cert-manager.io', kind: 'Issuer', name: issuerName },
          privateKey: { ...PRIVATE_KEYS[spec.keyType], rotationPolicy: 'Always' },
          ...('selfSigned' in spec.issuer ? { duration: exactDuration(spec.issuer.selfSigned.validity, true) } : {}),
          ...(spec.renewBefore !== undefined ? { renewBefore: exactDuration(spec.renewBefore, true) } : {}),
        },
      }),
    );
    warnUntranslated(ctx, cert);
  }
}

function acmeIssuer(ctx: ExportContext, cert: Resource<CertificateSpec>, issuerName: string, acme: AcmeIssuerSpec): NonNullable<IIssuerSpec['acme']> {
  const server = acme.directory === 'letsencrypt' || acme.directory === 'letsencrypt-staging' ? LETSENCRYPT_DIRECTORIES[acme.directory] : acme.directory;
  const eabPath = ['spec', 'issuer', 'acme', 'eab', 'hmacKey'];
  let externalAccountBinding: NonNullable<IIssuerSpec['acme']>['externalAccountBinding'];
  if (acme.eab) {
    const hmac = acme.eab.hmacKey;
    // A key written into the manifest is still a credential: it goes to the Secret like the others.
    const literalKey = `${cert.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_EAB_HMAC_KEY`;
    const ref: SecretRefValue = typeof hmac === 'string' ? { secretRef: literalKey } : hmac;
    if (typeof hmac === 'string') ctx.warn(cert, `eab.hmacKey is written in the manifest; the export reads it from secret ${literalKey} instead: put it in secrets.env`);
    const key = ctx.secrets.keyOf(cert, eabPath, ref);
    if (key !== undefined) externalAccountBinding = { keyID: acme.eab.kid, keySecretRef: { name: SECRET_NAME, key } };
  }
  if (acme.skipChallengeVerification) ctx.warn(cert, 'skipChallengeVerification has no cert-manager equivalent: cert-manager always checks the challenge itself first');
  if (!ctx.options.ingress)
    ctx.warn(cert, `ACME http-01 is answered by cert-manager through an Ingress${ctx.options.ingressClass ? ` of class ${ctx.options.ingressClass}` : ''}: the cluster needs an ingress controller that receives port 80 for ${cert.spec.domains.join(', ')} (or export with --ingress)`);
  return {
    server,
    email: acme.email,
    privateKeySecretRef: { name: `${issuerName}-acme-account` },
    solvers: [{ http01: { ingress: ctx.options.ingressClass ? { ingressClassName: ctx.options.ingressClass } : {} } }],
    ...(externalAccountBinding ? { externalAccountBinding } : {}),
    ...(acme.caFile ? caBundle(ctx, cert, acme.caFile) : {}),
  };
}

/** The PEM of a private ACME server's CA, inlined: it is public, and cert-manager wants it in the Issuer. */
function caBundle(ctx: ExportContext, cert: Resource, caFile: string): { caBundle?: string } {
  const path = resolve(cert.source.dir, caFile);
  try {
    return { caBundle: readFileSync(path).toString('base64') };
  } catch (err) {
    ctx.error(cert, ['spec', 'issuer', 'acme', 'caFile'], `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return {};
  }
}

function warnUntranslated(ctx: ExportContext, cert: Resource<CertificateSpec>): void {
  const reloads = cert.spec.reload.map((r) => r.service);
  if (reloads.length > 0)
    ctx.warn(cert, `${reloads.join(', ')} ${reloads.length > 1 ? 'are' : 'is'} not reloaded on renewal: cert-manager updates Secret ${certificateSecretName(cert)} and the mounted files change in place (not those mounted with subPath), but a server reads them at start; use a reloader, or kubectl rollout restart`);
}
