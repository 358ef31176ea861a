import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { DockerClients } from '../../adapters/docker/index.js';
import { parseCertificate } from '../../certificates/cert-store.js';
import type { CertificateMetrics } from '../../certificates/certificate-metrics.js';
import type { IssuanceRecord, IssuanceRecords } from '../../certificates/issuance-record.js';
import type { CertificateIssuer } from '../../certificates/issuer.js';
import { generatePrivateKey, keyMatchesCertificate } from '../../certificates/key-pair.js';
import { adoptPlainPair, type PairPaths, writeCertificatePair } from '../../certificates/pair-store.js';
import { reloadService } from '../../certificates/reload-services.js';
import { failureBackoffMs, orderBudget, type RetryPolicy } from '../../certificates/renewal-policy.js';
import { selfSignedIssuer } from '../../certificates/issuer-factory.js';
import type { CertificateSpec } from '../../manifests/kinds/certificate.js';
import type { Resource } from '../../manifests/resource.js';
import type { CertificateAction } from './plan.js';

export interface RenewOutcome {
  serial: string;
  notAfter: Date;
  issuer: string;
}

/** What performing the actions needs from outside; the issuer is built only when an issue action runs. */
export interface CertificateEffects {
  docker: Pick<DockerClients, 'containers'>;
  instance: string;
  issuances: IssuanceRecords;
  metrics: CertificateMetrics;
  retry: RetryPolicy;
  issuerFor(res: Resource<CertificateSpec>): Promise<CertificateIssuer>;
}

export interface PerformInput {
  res: Resource<CertificateSpec>;
  paths: PairPaths;
  /**
   * Changed in place as the actions run. Persisted at once where a crash must not lose it (orders,
   * a new pair, a failure); the caller persists the rest.
   */
  record: IssuanceRecord;
  now: Date;
  log: Logger;
  signal: AbortSignal;
}

export interface PerformOutcome {
  issued?: RenewOutcome;
  /** Why the issue action failed (the files in place stay). */
  failure?: string;
  /** Why a reload failed (the new pair is in place). */
  reloadError?: string;
}

const iso = (d: Date): string => d.toISOString();
const TEMPORARY_VALIDITY_MS = 30 * 86_400_000;

/** Issues with a fresh key, checks the result, and only then puts the pair in place. */
async function install(fx: CertificateEffects, input: PerformInput, issuer: CertificateIssuer): Promise<RenewOutcome> {
  const { res, record, now } = input;
  const keyPem = await generatePrivateKey(res.spec.keyType);
  const beforeOrder = async (): Promise<void> => {
    record.orders = [...orderBudget(record.orders, now, fx.retry.maxOrdersPerHour).recent, iso(now)];
    await fx.issuances.put(res.name, record);
  };
  const chain = await issuer.issue({ domains: res.spec.domains, keyType: res.spec.keyType, keyPem, now, beforeOrder });
  const info = parseCertificate(chain);
  if (!keyMatchesCertificate(new X509Certificate(info.leafPem), keyPem)) throw new Error('the issued certificate is not for the key that was sent');
  const missing = res.spec.domains.filter((d) => !info.domains.includes(d));
  if (missing.length) throw new Error(`the issued certificate lacks ${missing.join(', ')}`);
  await writeCertificatePair(input.paths, chain, keyPem);
  record.issuerId = issuer.id;
  record.serial = info.serial;
  record.lastIssuedAt = iso(now);
  record.ari = undefined;
  // Remembered before any reload runs, so a crash in between still reloads after the restart.
  record.pendingReload = [...new Set([...record.pendingReload, ...res.spec.reload.map((r) => r.service)])];
  await fx.issuances.put(res.name, record);
  input.log.debug({ serial: info.serial }, 'certificate pair switched');
  return { serial: info.serial, notAfter: info.notAfter, issuer: issuer.id };
}

async function issue(fx: CertificateEffects, input: PerformInput, action: Extract<CertificateAction, { type: 'issue' }>): Promise<PerformOutcome> {
  const { res, record, now, log } = input;
  log.info({ reason: action.reason, domains: res.spec.domains }, action.renewal ? 'renewing certificate' : 'issuing certificate');
  try {
    const issued = await install(fx, input, await fx.issuerFor(res));
    record.temporarySince = undefined;
    record.failures = 0;
    record.nextRetryAt = undefined;
    record.lastError = undefined;
    await fx.issuances.put(res.name, record);
    fx.metrics.issuance(res.name, 'success');
    log.info({ serial: issued.serial, notAfter: iso(issued.notAfter), issuer: issued.issuer }, 'certificate installed');
    return { issued };
  } catch (err) {
    const failure = (err as Error).message;
    record.failures += 1;
    record.nextRetryAt = iso(new Date(now.getTime() + failureBackoffMs(record.failures, fx.retry)));
    record.lastError = { message: failure, time: iso(now) };
    await fx.issuances.put(res.name, record);
    fx.metrics.issuance(res.name, 'failure');
    log.warn({ err: failure, failures: record.failures, nextRetryAt: record.nextRetryAt }, 'certificate issuance failed; the current files stay in place');
    return { failure };
  }
}

async function reload(fx: CertificateEffects, input: PerformInput, service: string): Promise<string | undefined> {
  const action = input.res.spec.reload.find((r) => r.service === service);
  if (!action) return undefined;
  try {
    const outcome = await reloadService(fx.docker, fx.instance, action, input.signal);
    input.record.pendingReload = input.record.pendingReload.filter((s) => s !== service);
    input.log.info({ service, outcome }, 'service told about the new certificate');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Performs a Certificate plan, in order. An issuance failure never touches the files in place: it
 * is recorded (error, backoff, remembered across restarts) and reported, not thrown. Reloads marked
 * `afterWrite` run only if this pass wrote a pair. Writing a stand-in or adopting plain files throws
 * on failure (the engine retries).
 */
export async function performCertificateActions(fx: CertificateEffects, actions: readonly CertificateAction[], input: PerformInput): Promise<PerformOutcome> {
  const { res, record, now, log } = input;
  const outcome: PerformOutcome = {};
  const reloadErrors: string[] = [];
  let wrote = false;
  for (const action of actions) {
    switch (action.type) {
      case 'adopt':
        await adoptPlainPair(input.paths);
        log.info({ certFile: input.paths.certFile }, 'plain certificate files moved into the linked layout');
        break;
      case 'stand-in':
        log.info({ reason: action.reason }, 'writing a temporary self-signed certificate');
        await install(fx, input, await selfSignedIssuer(TEMPORARY_VALIDITY_MS));
        record.temporarySince = iso(now);
        await fx.issuances.put(res.name, record);
        wrote = true;
        break;
      case 'issue':
        Object.assign(outcome, await issue(fx, input, action));
        wrote ||= outcome.issued !== undefined;
        break;
      case 'reload': {
        if (action.afterWrite && !wrote) break;
        const error = await reload(fx, input, action.service);
        if (error) reloadErrors.push(error);
        break;
      }
      case 'wait':
      case 'valid':
      case 'forget':
        break;
    }
  }
  if (reloadErrors.length) {
    outcome.reloadError = reloadErrors.join('; ');
    log.warn({ errors: reloadErrors }, 'reload after certificate change failed; retrying');
  }
  return outcome;
}
