import { X509Certificate } from 'node:crypto';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import type { Registry } from 'prom-client';
import type { DockerClients } from '../adapters/docker/index.js';
import { AcmeAccountKeys } from '../certificates/acme-account.js';
import { fetchRenewalWindow } from '../certificates/ari.js';
import { IssuanceRecords, type IssuanceRecord } from '../certificates/issuance-record.js';
import { decideCertificate, renewalOf, type CertificateDecision, type DesiredCertificate } from '../certificates/certificate-decision.js';
import { CertificateMetrics } from '../certificates/certificate-metrics.js';
import { plannedAction, reportCertificate } from '../certificates/certificate-status.js';
import { parseCertificate, readCertificateFiles, writeCertificateFiles, type OnDiskCertificate } from '../certificates/cert-store.js';
import { directoryUrlOf, issuerFor, issuerIdOf, prepareAcmeTrust } from '../certificates/issuer-factory.js';
import type { CertificateIssuer } from '../certificates/issuer.js';
import { generatePrivateKey, keyMatchesCertificate } from '../certificates/key-pair.js';
import { reloadService } from '../certificates/reload-services.js';
import { DEFAULT_RETRY_POLICY, failureBackoffMs, orderBudget, type RetryPolicy } from '../certificates/renewal-policy.js';
import { SelfSignedIssuer } from '../certificates/self-signed-issuer.js';
import type { DesiredState } from '../manifests/desired-state.js';
import type { CertificateSpec } from '../manifests/kinds/certificate.js';
import type { Resource } from '../manifests/resource.js';
import { StaticSecrets, type SecretSource } from '../manifests/secrets.js';
import type { AcmeResponder } from '../server/acme-responder.js';
import type { DurableState } from '../state/durable-state.js';
import { StatusBoard } from '../state/status-board.js';
import { resourceKey, type PlannedAction, type ReconcileContext, type ReconcileResult, type LegacyReconciler } from './types.js';

const KIND = 'Certificate';

export interface CertificateReconcilerOptions {
  /** Agent instance: reload targets are this instance's Service containers. */
  instance: string;
  /** Where the ACME account keys live (`<stateDir>/acme/`). */
  stateDir: string;
  /** Overrides the engine's clock (tests drive renewal with it). */
  now?: () => Date;
  /** Resolves `issuer.acme.eab.hmacKey` references. */
  secrets?: SecretSource;
  retry?: Partial<RetryPolicy>;
  /** How long a self-signed stand-in is left for services to start with before the first ACME order. */
  temporaryGraceMs?: number;
  /** Look again at least this often, so ARI advice and files changed by hand are noticed. */
  maxRecheckMs?: number;
  /** Retry interval for a reload that failed (the certificate itself is already in place). */
  reloadRetryMs?: number;
}

export interface RenewOutcome {
  serial: string;
  notAfter: Date;
  issuer: string;
}

type Present = Extract<OnDiskCertificate, { state: 'present' }>;
const iso = (d: Date): string => d.toISOString();
const TEMPORARY_VALIDITY_MS = 30 * 86_400_000;

/**
 * Keeps each declared certificate valid on disk and the services using it reloaded. Issuance
 * failures never touch the files in place: they set Ready False with the error and the next retry
 * time, and back off (persisted, so a restart does not hammer the CA). Never logs, stores or
 * reports key material.
 */
export class CertificateReconciler implements LegacyReconciler {
  readonly kind = KIND;
  private readonly issuances: IssuanceRecords;
  private readonly metrics: CertificateMetrics;
  private readonly accounts: AcmeAccountKeys;
  private readonly retry: RetryPolicy;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly docker: DockerClients,
    private readonly responder: AcmeResponder,
    private readonly state: DurableState,
    registry: Registry,
    private readonly opts: CertificateReconcilerOptions,
  ) {
    this.issuances = new IssuanceRecords(state);
    this.metrics = new CertificateMetrics(registry);
    this.accounts = new AcmeAccountKeys(join(opts.stateDir, 'acme'));
    this.retry = { ...DEFAULT_RETRY_POLICY, ...opts.retry };
  }

  async listOwned(): Promise<string[]> {
    return this.issuances.names();
  }

  async plan(name: string, ctx: ReconcileContext): Promise<PlannedAction[]> {
    const res = ctx.desired.get(KIND, name);
    if (!res) return this.issuances.has(name) ? [{ kind: KIND, name, action: 'skip', reason: 'no longer declared: the files stay in place and are no longer renewed' }] : [];
    const disk = await readCertificateFiles(...this.paths(res));
    const decision = decideCertificate(this.desiredOf(res), disk, this.issuances.get(name), this.clock(ctx), this.decisionOptions(false));
    return [plannedAction(name, decision)];
  }

  reconcile(name: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    return this.serialised(name, async () => (await this.run(name, ctx, false)).result);
  }

  /**
   * `certitrack-agent cert renew NAME`: issue now, even if nothing is due, skipping the failure
   * backoff but not the hourly order bound. Throws with the reason when no new certificate resulted.
   */
  async renewNow(name: string, desired: DesiredState, ctx: Partial<Pick<ReconcileContext, 'log' | 'status' | 'signal'>> = {}): Promise<RenewOutcome> {
    const full: ReconcileContext = {
      desired,
      log: ctx.log ?? pino({ level: 'silent' }),
      status: ctx.status ?? new StatusBoard(this.state),
      signal: ctx.signal ?? new AbortController().signal,
      now: () => new Date(),
    };
    if (!desired.get(KIND, name)) throw new Error(`Certificate "${name}" is not declared`);
    const { issued, failure, decision } = await this.serialised(name, () => this.run(name, full, true));
    if (!issued) throw new Error(failure ?? decision?.reason ?? 'no certificate was issued');
    return issued;
  }

  private serialised<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(name, tail);
    void tail.then(() => {
      if (this.locks.get(name) === tail) this.locks.delete(name);
    });
    return next;
  }

  private clock(ctx: ReconcileContext): Date {
    return this.opts.now?.() ?? ctx.now();
  }

  private paths(res: Resource<CertificateSpec>): [string, string] {
    return [resolve(res.source.dir, res.spec.certFile), resolve(res.source.dir, res.spec.keyFile)];
  }

  private desiredOf(res: Resource<CertificateSpec>): DesiredCertificate {
    return { domains: res.spec.domains, keyType: res.spec.keyType, issuerId: issuerIdOf(res.spec), acme: 'acme' in res.spec.issuer, renewBeforeMs: res.spec.renewBefore };
  }

  private decisionOptions(forced: boolean) {
    return { forced, retry: this.retry, temporaryGraceMs: this.opts.temporaryGraceMs ?? 10_000 };
  }

  private async run(name: string, ctx: ReconcileContext, forced: boolean): Promise<{ result: ReconcileResult; decision?: CertificateDecision; issued?: RenewOutcome; failure?: string }> {
    const key = resourceKey(KIND, name);
    const res = ctx.desired.get(KIND, name);
    if (!res) {
      // The files stay: removing a certificate nginx still points at would take the site down.
      if (this.issuances.has(name)) await this.issuances.delete(name);
      this.metrics.forget(name);
      ctx.status.remove(key);
      return { result: {} };
    }
    this.metrics.declare(name);
    const now = this.clock(ctx);
    const desired = this.desiredOf(res);
    const [certPath, keyPath] = this.paths(res);
    const issuance = this.issuances.get(name);
    if (!desired.acme && issuance.temporarySince) {
      // The issuer changed from ACME to self-signed while a stand-in was in place: it is now simply self-signed.
      issuance.temporarySince = undefined;
      await this.issuances.put(name, issuance);
    }
    let disk = await readCertificateFiles(certPath, keyPath);

    if (desired.acme && disk.state === 'present' && disk.key === 'ok' && !issuance.temporarySince) await this.refreshAri(res, disk, issuance, now, ctx);
    let decision = decideCertificate(desired, disk, issuance, now, this.decisionOptions(forced));

    if (decision.action === 'placeholder') {
      ctx.log.info({ reason: decision.reason }, 'writing a temporary self-signed certificate');
      await this.install(res, issuance, new SelfSignedIssuer(TEMPORARY_VALIDITY_MS), now, ctx);
      issuance.temporarySince = iso(now);
      await this.issuances.put(name, issuance);
      disk = await readCertificateFiles(certPath, keyPath);
      decision = decideCertificate(desired, disk, issuance, now, this.decisionOptions(forced));
    }

    let issued: RenewOutcome | undefined;
    let failure: string | undefined;
    if (decision.action === 'issue') {
      ctx.log.info({ reason: decision.reason, domains: desired.domains }, decision.kind === 'create' ? 'issuing certificate' : 'renewing certificate');
      try {
        issued = await this.install(res, issuance, await issuerFor(res, { accounts: this.accounts, responder: this.responder, secrets: this.opts.secrets ?? new StaticSecrets({}) }), now, ctx);
        issuance.temporarySince = undefined;
        issuance.failures = 0;
        issuance.nextRetryAt = undefined;
        issuance.lastError = undefined;
        await this.issuances.put(name, issuance);
        this.metrics.issuance(name, 'success');
        ctx.status.setError(key, undefined);
        ctx.log.info({ serial: issued.serial, notAfter: iso(issued.notAfter), issuer: issued.issuer }, 'certificate installed');
      } catch (err) {
        failure = (err as Error).message;
        issuance.failures += 1;
        const backoff = failureBackoffMs(issuance.failures, this.retry);
        issuance.nextRetryAt = iso(new Date(now.getTime() + backoff));
        issuance.lastError = { message: failure, time: iso(now) };
        await this.issuances.put(name, issuance);
        this.metrics.issuance(name, 'failure');
        ctx.status.setError(key, err as Error);
        ctx.log.warn({ err: failure, failures: issuance.failures, nextRetryAt: issuance.nextRetryAt }, 'certificate issuance failed; the current files stay in place');
      }
      disk = await readCertificateFiles(certPath, keyPath);
      decision = decideCertificate(desired, disk, issuance, now, this.decisionOptions(false));
    }

    const reloadError = await this.reloadPending(res, issuance, ctx);
    return { result: this.report(res, disk, issuance, decision, now, ctx, reloadError), decision, issued, failure };
  }

  /** Issues with a fresh key, checks the result, and only then replaces the files. */
  private async install(res: Resource<CertificateSpec>, issuance: IssuanceRecord, issuer: CertificateIssuer, now: Date, ctx: ReconcileContext): Promise<RenewOutcome> {
    const keyPem = await generatePrivateKey(res.spec.keyType);
    const beforeOrder = async (): Promise<void> => {
      issuance.orders = [...orderBudget(issuance.orders, now, this.retry.maxOrdersPerHour).recent, iso(now)];
      await this.issuances.put(res.name, issuance);
    };
    const chain = await issuer.issue({ domains: res.spec.domains, keyType: res.spec.keyType, keyPem, now, beforeOrder });
    const info = parseCertificate(chain);
    if (!keyMatchesCertificate(new X509Certificate(info.leafPem), keyPem)) throw new Error('the issued certificate is not for the key that was sent');
    const missing = res.spec.domains.filter((d) => !info.domains.includes(d));
    if (missing.length) throw new Error(`the issued certificate lacks ${missing.join(', ')}`);
    const [certPath, keyPath] = this.paths(res);
    await writeCertificateFiles(certPath, keyPath, chain, keyPem);
    issuance.issuerId = issuer.id;
    issuance.serial = info.serial;
    issuance.lastIssuedAt = iso(now);
    issuance.ari = undefined;
    issuance.pendingReload = [...new Set([...issuance.pendingReload, ...res.spec.reload.map((r) => r.service)])];
    await this.issuances.put(res.name, issuance);
    ctx.log.debug({ serial: info.serial }, 'certificate files written');
    return { serial: info.serial, notAfter: info.notAfter, issuer: issuer.id };
  }

  private async reloadPending(res: Resource<CertificateSpec>, issuance: IssuanceRecord, ctx: ReconcileContext): Promise<string | undefined> {
    if (issuance.pendingReload.length === 0) return undefined;
    const remaining: string[] = [];
    const errors: string[] = [];
    for (const service of issuance.pendingReload) {
      const action = res.spec.reload.find((r) => r.service === service);
      if (!action) continue;
      try {
        const outcome = await reloadService(this.docker, this.opts.instance, action, ctx.signal);
        ctx.log.info({ service, outcome }, 'service told about the new certificate');
      } catch (err) {
        remaining.push(service);
        errors.push((err as Error).message);
      }
    }
    issuance.pendingReload = remaining;
    await this.issuances.put(res.name, issuance);
    if (errors.length) ctx.log.warn({ errors }, 'reload after certificate change failed; retrying');
    return errors.length ? errors.join('; ') : undefined;
  }

  private async refreshAri(res: Resource<CertificateSpec>, disk: Present, issuance: IssuanceRecord, now: Date, ctx: ReconcileContext): Promise<void> {
    const serial = disk.info.serial;
    if (issuance.ari && issuance.ari.serial === serial && now < new Date(issuance.ari.checkAgainAt)) return;
    if (!('acme' in res.spec.issuer)) return;
    const retryLater = iso(new Date(now.getTime() + 3_600_000));
    try {
      await prepareAcmeTrust(res);
      const window = await fetchRenewalWindow(directoryUrlOf(res.spec.issuer.acme), disk.info.leafPem, now);
      issuance.ari = window ? { ...window, serial } : { serial, none: true, checkAgainAt: iso(new Date(now.getTime() + 24 * 3_600_000)) };
    } catch (err) {
      // No advice is not a reason to renew: keep the last window (or two thirds) and ask again in an hour.
      ctx.log.warn({ err: (err as Error).message }, 'ACME renewal information unavailable');
      issuance.ari = issuance.ari && issuance.ari.serial === serial ? { ...issuance.ari, checkAgainAt: retryLater } : { serial, none: true, checkAgainAt: retryLater };
    }
    await this.issuances.put(res.name, issuance);
  }

  private report(
    res: Resource<CertificateSpec>,
    disk: OnDiskCertificate,
    issuance: IssuanceRecord,
    decision: CertificateDecision,
    now: Date,
    ctx: ReconcileContext,
    reloadError: string | undefined,
  ): ReconcileResult {
    const renewAt = disk.state === 'present' ? renewalOf(this.desiredOf(res), disk, issuance).at : undefined;
    const r = reportCertificate(
      { issuerId: issuerIdOf(res.spec), certFile: this.paths(res)[0], disk, issuance, decision, renewAt, reloadError, now },
      { maxRecheckMs: this.opts.maxRecheckMs ?? 6 * 3_600_000, reloadRetryMs: this.opts.reloadRetryMs ?? 30_000 },
    );
    const key = resourceKey(KIND, res.name);
    ctx.status.setCondition(key, 'Ready', r.ready, r.reason, r.message);
    ctx.status.setDetails(key, r.details);
    this.metrics.setTimes(res.name, r.notAfter, r.renewAt);
    this.metrics.setReady(res.name, r.ready);
    return { requeueAfterMs: r.requeueAfterMs };
  }
}
