import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LETSENCRYPT_DIRECTORIES, type AcmeIssuerSpec, type CertificateSpec } from '../manifests/kinds/certificate.js';
import type { Resource } from '../manifests/resource.js';
import { resolveValue, type SecretSource } from '../manifests/secrets.js';
import type { AcmeResponder } from '../server/acme-responder.js';
import type { AcmeAccountKeys } from './acme-account.js';
import { trustAcmeServer } from './acme-http.js';
import { AcmeIssuer } from './acme-issuer.js';
import { AgentHttp01Solver, WebrootHttp01Solver } from './http01-solver.js';
import type { CertificateIssuer } from './issuer.js';

export const directoryUrlOf = (acme: AcmeIssuerSpec): string =>
  acme.directory === 'letsencrypt' || acme.directory === 'letsencrypt-staging' ? LETSENCRYPT_DIRECTORIES[acme.directory] : acme.directory;

/** The issuer's identity as bookkeeping records it; computed without effects (for plan). */
export const issuerIdOf = (spec: CertificateSpec): string => ('acme' in spec.issuer ? `acme:${directoryUrlOf(spec.issuer.acme)}` : 'selfSigned');

/** Registers the ACME server's own CA, when the spec names one, before anything talks to it. */
export async function prepareAcmeTrust(res: Resource<CertificateSpec>): Promise<void> {
  if (!('acme' in res.spec.issuer) || !res.spec.issuer.acme.caFile) return;
  const path = resolve(res.source.dir, res.spec.issuer.acme.caFile);
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read issuer.acme.caFile ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  trustAcmeServer(directoryUrlOf(res.spec.issuer.acme), pem);
}

export interface IssuerDeps {
  accounts: AcmeAccountKeys;
  responder: AcmeResponder;
  secrets: SecretSource;
}

/** Builds the issuer a Certificate asks for; resolves the EAB secret only here, at apply time. */
export async function issuerFor(res: Resource<CertificateSpec>, deps: IssuerDeps): Promise<CertificateIssuer> {
  const spec = res.spec;
  if ('selfSigned' in spec.issuer) return selfSignedIssuer(spec.issuer.selfSigned.validity);
  const acme = spec.issuer.acme;
  await prepareAcmeTrust(res);
  const http01 = spec.challenge.http01;
  const solver = http01.mode === 'webroot' ? new WebrootHttp01Solver(resolve(res.source.dir, http01.path)) : new AgentHttp01Solver(deps.responder);
  return new AcmeIssuer(
    {
      directoryUrl: directoryUrlOf(acme),
      email: acme.email,
      eab: acme.eab ? { kid: acme.eab.kid, hmacKey: resolveValue(acme.eab.hmacKey, deps.secrets, res.source.dir) } : undefined,
      skipChallengeVerification: acme.skipChallengeVerification,
    },
    deps.accounts,
    solver,
  );
}

/** The self-signed issuer, loaded on use: its X.509 library is large and only issuing needs it. */
export async function selfSignedIssuer(validityMs: number): Promise<CertificateIssuer> {
  const { SelfSignedIssuer } = await import('./self-signed-issuer.js');
  return new SelfSignedIssuer(validityMs);
}
