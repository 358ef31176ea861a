import { join, resolve } from 'node:path';
import { pino } from 'pino';
import type { Registry } from 'prom-client';
import type { DockerClients } from '../../adapters/docker/index.js';
import { AcmeAccountKeys } from '../../certificates/acme-account.js';
import { fetchRenewalWindow } from '../../certificates/ari.js';
import { readCertificatePair, type OnDiskCertificate } from '../../certificates/cert-store.js';
import { CertificateMetrics } from '../../certificates/certificate-metrics.js';
import { IssuanceRecords, type IssuanceRecord } from '../../certificates/issuance-record.js';
import { directoryUrlOf, issuerFor, prepareAcmeTrust } from '../../certificates/issuer-factory.js';
import { pairPaths, type PairPaths } from '../../certificates/pair-store.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../../certificates/renewal-policy.js';
import type { ApplyContext, ObserveContext, ReconcileResult, Reconciler } from '../../engine/reconcile.js';
import { resourceKey } from '../../engine/reconcile.js';
import type { DesiredState } from '../../manifests/desired-state.js';
import type { CertificateSpec } from '../../manifests/kinds/certificate.js';
import type { Resource } from '../../manifests/resource.js';
import { StaticSecrets, type SecretSource } from '../../manifests/secrets.js';
import type { AcmeResponder } from '../../server/acme-responder.js';
import type { DurableState } from '../../state/durable-state.js';
import { StatusBoard } from '../../state/status-board.js';
import { canonicalJson } from '../../util/hash.js';
import { type CertificateEffects, performCertificateActions, type PerformOutcome, type RenewOutcome } from './apply.js';
import { setCertificateCondition } from './conditions.js';
import { type CertificateAction, type CertificateObservation, DEFAULT_PLAN_POLICY, desiredCertificate, plan, type PlanPolicy } from './plan.js';
import { reportCertificate, type ReportTiming } from './report.js';

export type { RenewOutcome } from './apply.js';

const KIND = 'Certificate';

export interface CertificateReconcilerOptions {
  /** Agent instance: reload targets are this instance's Service containers. */
  instance: string;
  /** Where the ACME account keys live (`<stateDir>/acme/`). */
  stateDir: string;
  /** The clock for what the reconciler times itself (ARI advice, `cert renew`); the engine hands plan and apply its own. */
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

type Present = Extract<OnDiskCertificate, { state: 'present' }>;
const iso = (d: Date): string => d.toISOString();
const HOUR_MS = 3_600_000;

/**
 * Keeps each declared certificate valid on disk and the services using it reloaded. Key and
 * certificate are swapped as one unit (src/certificates/pair-store.ts). Issuance failures never touch
 * the pair in place: they show on the Issuing condition with the error and the next retry time, and
 * back off (persisted, so a restart does not hammer the CA). Never logs, stores or reports key
 * material.
 */
export class CertificateReconciler implements Reconciler<'Certificate', CertificateObservation, CertificateAction> {
  readonly kind = KIND;
  private readonly issuances: IssuanceRecords;
  private readonly metrics: CertificateMetrics;
  private readonly accounts: AcmeAccountKeys;
  private readonly policy: PlanPolicy;
  private readonly timing: ReportTiming;
  private readonly effects: CertificateEffects;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    docker: DockerClients,
    responder: AcmeResponder,
    private readonly state: DurableState,
    registry: Registry,
    private readonly opts: CertificateReconcilerOptions,
  ) {
    this.issuances = new IssuanceRecords(state);
    this.metrics = new CertificateMetrics(registry);
    this.accounts = new AcmeAccountKeys(join(opts.stateDir, 'acme'));
    const retry = { ...DEFAULT_RETRY_POLICY, ...opts.retry };
    this.policy = { ...DEFAULT_PLAN_POLICY, retry, temporaryGraceMs: opts.temporaryGraceMs ?? DEFAULT_PLAN_POLICY.temporaryGraceMs };
    this.timing = { maxRecheckMs: opts.maxRecheckMs ?? 6 * HOUR_MS, reloadRetryMs: opts.reloadRetryMs ?? 30_000 };
    const secrets = opts.secrets ?? new StaticSecrets({});
    this.effects = {
      docker,
      instance: opts.instance,
      issuances: this.issuances,
      metrics: this.metrics,
      retry,
      issuerFor: (res) => issuerFor(res, { accounts: this.accounts, responder, secrets }),
    };
  }

  async listOwned(): Promise<string[]> {
    return this.issuances.names();
  }

  /** Reads the pair (one consistent look), the bookkeeping, and the CA's ARI advice when it is due. */
  async observe(name: string, ctx: ObserveContext): Promise<CertificateObservation> {
    const recordVersion = this.issuances.version(name);
    const record = this.issuances.get(name);
    const tracked = this.issuances.has(name);
    const res = ctx.desired.get(KIND, name);
    if (!res) return { disk: { state: 'missing' }, layout: 'absent', record, tracked, recordVersion };
    const { disk, layout } = await readCertificatePair(this.paths(res));
    if ('acme' in res.spec.issuer && disk.state === 'present' && disk.key === 'ok' && !record.temporarySince) record.ari = await this.ariAdvice(res, disk, record, ctx);
    return { disk, layout, record, tracked, recordVersion };
  }

  plan(desired: Resource<CertificateSpec> | undefined, observed: CertificateObservation, now: Date): CertificateAction[] {
    return plan(desired, observed, now, this.policy);
  }

  apply(actions: readonly CertificateAction[], ctx: ApplyContext<CertificateObservation>): Promise<ReconcileResult> {
    return this.serialised(ctx.name, async () => (await this.applyFresh(actions, ctx, this.policy)).result);
  }

  /**
   * `certitrack-agent cert renew NAME`: issue now, even if nothing is due, skipping the failure
   * backoff but not the hourly order bound. Throws with the reason when no new certificate resulted.
   */
  async renewNow(name: string, desired: DesiredState, ctx: Partial<Pick<ApplyContext, 'log' | 'status' | 'signal'>> = {}): Promise<RenewOutcome> {
    if (!desired.get(KIND, name)) throw new Error(`Certificate "${name}" is not declared`);
    const now = this.opts.now ?? (() => new Date());
    const observeCtx: ObserveContext = { desired, log: ctx.log ?? pino({ level: 'silent' }), signal: ctx.signal ?? new AbortController().signal };
    const forced = { ...this.policy, forced: true };
    const { issued, failure, actions } = await this.serialised(name, async () => {
      const observed = await this.observe(name, observeCtx);
      const applyCtx: ApplyContext<CertificateObservation> = { ...observeCtx, name, key: resourceKey(KIND, name), observed, status: ctx.status ?? new StatusBoard(this.state), now };
      return this.applyFresh(plan(desired.get(KIND, name), observed, now(), forced), applyCtx, forced);
    });
    if (!issued) throw new Error(failure ?? actions.find((a) => a.type === 'wait')?.reason ?? 'no certificate was issued');
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

  private paths(res: Resource<CertificateSpec>): PairPaths {
    return pairPaths(resolve(res.source.dir, res.spec.certFile), resolve(res.source.dir, res.spec.keyFile));
  }

  /** Performs the actions; if another run (`cert renew`) changed the bookkeeping since observe, looks again first. */
  private async applyFresh(
    planned: readonly CertificateAction[],
    ctx: ApplyContext<CertificateObservation>,
    policy: PlanPolicy,
  ): Promise<PerformOutcome & { result: ReconcileResult; actions: readonly CertificateAction[] }> {
    const res = ctx.desired.get(KIND, ctx.name);
    let observed = ctx.observed;
    let actions = planned;
    if (this.issuances.version(ctx.name) !== observed.recordVersion) {
      observed = await this.observe(ctx.name, ctx);
      actions = plan(res, observed, ctx.now(), policy);
    }
    if (!res) {
      // The files stay: removing a certificate nginx still points at would take the site down.
      if (this.issuances.has(ctx.name)) await this.issuances.delete(ctx.name);
      this.metrics.forget(ctx.name);
      ctx.status.remove(ctx.key);
      return { result: {}, actions };
    }
    const now = ctx.now();
    const record = structuredClone(observed.record);
    // The issuer changed from ACME to self-signed while a stand-in was in place: it is now simply self-signed.
    if (!('acme' in res.spec.issuer)) record.temporarySince = undefined;
    const paths = this.paths(res);
    const outcome = await performCertificateActions(this.effects, actions, { res, paths, record, now, log: ctx.log, signal: ctx.signal });
    if (canonicalJson(record) !== canonicalJson(this.issuances.get(ctx.name)) || !this.issuances.has(ctx.name)) await this.issuances.put(ctx.name, record);

    // Report from what is on disk now and what the plan says next. A `cert renew` that the order
    // bound held back says so until the next reconcile; anything else reports the regular schedule.
    const after: CertificateObservation = { ...(await readCertificatePair(paths)), record, tracked: true, recordVersion: this.issuances.version(ctx.name) };
    const heldBack = actions.some((a) => a.type === 'wait' && a.cause === 'order-bound');
    const next = plan(res, after, now, heldBack ? policy : { ...policy, forced: false });
    const report = reportCertificate({ desired: desiredCertificate(res), certFile: paths.certFile, disk: after.disk, record, next, reloadError: outcome.reloadError, now }, this.timing);
    setCertificateCondition(ctx.status, ctx.key, 'Ready', report.ready.reason, report.ready.message);
    setCertificateCondition(ctx.status, ctx.key, 'Issuing', report.issuing.reason, report.issuing.message);
    ctx.status.setDetails(ctx.key, report.details);
    this.metrics.setTimes(res.name, report.notAfter, report.renewAt);
    this.metrics.setReady(res.name, report.ready.reason === 'Valid' ? 'True' : 'False');
    return { ...outcome, result: { requeueAfterMs: report.requeueAfterMs }, actions };
  }

  /** The CA's renewal window for the serial on disk, asked again only when the last answer says so. */
  private async ariAdvice(res: Resource<CertificateSpec>, disk: Present, record: IssuanceRecord, ctx: ObserveContext): Promise<IssuanceRecord['ari']> {
    const serial = disk.info.serial;
    const now = (this.opts.now ?? (() => new Date()))();
    if (record.ari && record.ari.serial === serial && now < new Date(record.ari.checkAgainAt)) return record.ari;
    if (!('acme' in res.spec.issuer)) return record.ari;
    const retryLater = iso(new Date(now.getTime() + HOUR_MS));
    try {
      await prepareAcmeTrust(res);
      const window = await fetchRenewalWindow(directoryUrlOf(res.spec.issuer.acme), disk.info.leafPem, now);
      return window ? { ...window, serial } : { serial, none: true, checkAgainAt: iso(new Date(now.getTime() + 24 * HOUR_MS)) };
    } catch (err) {
      // No advice is not a reason to renew: keep the last window (or two thirds) and ask again in an hour.
      ctx.log.warn({ err: (err as Error).message }, 'ACME renewal information unavailable');
      return record.ari && record.ari.serial === serial ? { ...record.ari, checkAgainAt: retryLater } : { serial, none: true, checkAgainAt: retryLater };
    }
  }
}
