import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { DesiredState } from '../manifests/desired-state.js';
import type { KindName } from '../manifests/kinds/index.js';
import type { DurableState } from '../state/durable-state.js';
import type { StatusBoard } from '../state/status-board.js';
import { PerKeyBackoff } from './backoff.js';
import type { EngineMetrics } from './engine-metrics.js';
import {
  type AgentEvent,
  type ApplyContext,
  isChange,
  type KindAction,
  type ObserveContext,
  parseResourceKey,
  type PlannedAction,
  type ReconcileResult,
  type Reconciler,
  resourceKey,
  TerminalError,
} from './reconcile.js';
import { WorkQueue } from './work-queue.js';

/**
 * Each reconciler is generic in its own observation and action types; the engine only hands the
 * output of one step to the next, so it holds them at their widest.
 */
export type AnyReconciler = Reconciler<KindName, unknown, KindAction>;

export interface ControllerOptions {
  reconcilers: readonly AnyReconciler[];
  status: StatusBoard;
  state: DurableState;
  log: Logger;
  metrics: EngineMetrics;
  now?: () => Date;
  /** Parallel reconciles of independent keys. */
  concurrency?: number;
  /** Safety-net full resync against missed events. */
  resyncMs?: number;
  errorBackoffBaseMs?: number;
  errorBackoffMaxMs?: number;
  /** Longest a reconcile may take unless its kind says otherwise (controller-runtime's ReconciliationTimeout). */
  reconcileTimeoutMs?: number;
  /**
   * Keys an operator suspended (`certitrack-agent suspend`): shown with a Suspended condition and
   * not reconciled at all, unless their kind honours spec.suspend (then reconciled with it set).
   */
  suspended?: (key: string, desired: DesiredState) => { message: string; bySpec: boolean } | undefined;
}

const DEFAULT_RECONCILE_TIMEOUT_MS = 120_000;

class ReconcileTimeout extends Error {
  override readonly name = 'ReconcileTimeout';
}

/** Errors that mean a bug in the agent rather than trouble outside it: counted apart and logged with their stack. */
const isProgrammingError = (err: Error): boolean => err instanceof TypeError || err instanceof ReferenceError || err instanceof RangeError || err instanceof SyntaxError;

/**
 * The loop: holds the current desired snapshot, turns every trigger (new snapshot, event, timer,
 * resync) into a key on the queue, and runs one reconcile (observe → plan → apply) per key at a
 * time. Errors are logged here, once, with the key and a reconcile id.
 */
export class Controller {
  private desired = DesiredState.empty();
  /**
   * Nothing is reconciled before the first snapshot arrives: against the empty placeholder every
   * owned container would look undeclared and be removed.
   */
  private loaded = false;
  private readonly byKind: Map<string, AnyReconciler>;
  private readonly queue: WorkQueue;
  private readonly backoff: PerKeyBackoff;
  private readonly abort = new AbortController();
  /** Keys whose timed-out reconcile is still running: none of them starts again until it settles. */
  private readonly stuck = new Map<string, Promise<void>>();
  private resyncTimer: NodeJS.Timeout | undefined;
  /** Keys of the current snapshot not yet reconciled successfully; when empty, the revision is applied. */
  private pending = new Set<string>();
  private appliedRevision: string | undefined;
  private lastLoopAt = Date.now();
  private readonly now: () => Date;

  constructor(private readonly opts: ControllerOptions) {
    this.byKind = new Map(opts.reconcilers.map((r) => [r.kind, r]));
    this.now = opts.now ?? (() => new Date());
    this.backoff = new PerKeyBackoff(opts.errorBackoffBaseMs ?? 1000, opts.errorBackoffMaxMs ?? 5 * 60_000);
    this.queue = new WorkQueue((key) => this.handle(key), opts.concurrency ?? 4, opts.metrics.workQueue);
    this.appliedRevision = opts.state.get<string>('meta', 'appliedRevision');
  }

  get current(): DesiredState {
    return this.desired;
  }

  get applied(): string | undefined {
    return this.appliedRevision;
  }

  /** True while the loop is turning: the last reconcile or idle tick is recent. */
  get lastActivity(): number {
    return this.lastLoopAt;
  }

  isApplied(): boolean {
    return this.appliedRevision === this.desired.revision && this.pending.size === 0;
  }

  start(): void {
    const resyncMs = this.opts.resyncMs ?? 5 * 60_000;
    this.resyncTimer = setInterval(() => void this.resync('periodic'), resyncMs);
    this.resyncTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.abort.abort();
    await this.queue.shutdown();
    await this.opts.state.flush();
  }

  /**
   * Stops taking new work but lets the reconciles in flight run to their end: their signal is not
   * aborted, so a container replacement that has begun is finished rather than cut off between
   * removing the old container and starting the new one. For an interrupted `apply`; the daemon's
   * {@link stop} aborts instead, because a restarted agent picks up where it left off.
   */
  async drain(): Promise<{ inFlight: string[] }> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    const inFlight = this.queue.running();
    await this.queue.shutdown();
    await Promise.all(this.stuck.values());
    await this.opts.state.flush();
    return { inFlight };
  }

  /** Keys of the current snapshot not yet reconciled to completion. */
  pendingKeys(): string[] {
    return [...this.pending].sort();
  }

  /** Sets the snapshot without enqueuing anything (for plan). */
  useSnapshot(next: DesiredState): void {
    this.desired = next;
  }

  /** Replaces the desired snapshot and enqueues every declared and every owned resource. */
  async setDesired(next: DesiredState): Promise<void> {
    this.desired = next;
    this.loaded = true;
    this.pending = new Set(next.all().map((r) => resourceKey(r.kind, r.name)));
    for (const kind of this.byKind.keys()) this.opts.metrics.desiredResources.labels(kind).set(next.list(kind as KindName).length);
    await this.resync('new-revision');
  }

  /**
   * The same revision with an operator's request laid over it (suspend, resume, restart): `key` is
   * looked at again, and the revision counts as applied only once it has been.
   */
  amend(next: DesiredState, key: string): void {
    if (next.revision !== this.desired.revision) throw new Error(`amend: revision ${next.revision} is not the current ${this.desired.revision}`);
    this.desired = next;
    if (!this.loaded) return;
    this.pending.add(key);
    this.enqueue(key);
  }

  /** Level-triggered: enqueue everything; reconciles read fresh state, so extra work is harmless. */
  async resync(reason: string): Promise<void> {
    this.lastLoopAt = Date.now();
    if (!this.loaded) return;
    const keys = new Set(this.desired.all().map((r) => resourceKey(r.kind, r.name)));
    for (const r of this.byKind.values()) {
      try {
        for (const name of await r.listOwned()) keys.add(resourceKey(r.kind, name));
      } catch (err) {
        this.opts.log.warn({ kind: r.kind, err: (err as Error).message }, 'listing owned resources failed; will retry at next resync');
      }
    }
    this.opts.log.debug({ reason, keys: keys.size }, 'resync');
    for (const key of keys) this.enqueue(key);
  }

  enqueue(key: string): void {
    if (!this.loaded) return;
    this.queue.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    this.queue.addAfter(key, ms);
  }

  /** Enqueues every key a reconciler says the event concerns (its declared watches). */
  dispatch(event: AgentEvent): void {
    for (const r of this.byKind.values()) for (const key of r.mapEvent?.(event, this.desired) ?? []) this.enqueue(key);
  }

  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  /** Every action that reconciling would take now, key by key in key order: observe + plan, nothing applied. */
  async plan(): Promise<PlannedAction[]> {
    const keys = new Set(this.desired.all().map((r) => resourceKey(r.kind, r.name)));
    for (const r of this.byKind.values()) for (const name of await r.listOwned()) keys.add(resourceKey(r.kind, name));
    const out: PlannedAction[] = [];
    for (const key of [...keys].sort()) {
      const { kind, name } = parseResourceKey(key);
      const r = this.byKind.get(kind);
      if (!r) continue;
      const suspended = this.opts.suspended?.(key, this.desired);
      if (suspended && !suspended.bySpec) {
        out.push({ kind, name, action: 'note', reason: `${suspended.message}: nothing is done` });
        continue;
      }
      const observed = await r.observe(name, this.observeContext(key, this.abort.signal));
      for (const a of r.plan(this.desired.get(r.kind, name), observed, this.now())) {
        out.push({ kind, name, action: a.action, reason: a.reason, ...(a.changes?.length ? { changes: a.changes } : {}) });
      }
    }
    return out;
  }

  private observeContext(key: string, signal: AbortSignal): ObserveContext {
    const reconcileId = randomBytes(4).toString('hex');
    return { desired: this.desired, log: this.opts.log.child({ key, reconcileId }), signal };
  }

  /** The three steps of one reconcile; tells the watchers when it changed something. */
  private async reconcileOnce(r: AnyReconciler, key: string, name: string, ctx: ObserveContext): Promise<ReconcileResult> {
    const observed = await r.observe(name, ctx);
    const actions = r.plan(ctx.desired.get(r.kind, name), observed, this.now());
    const applyCtx: ApplyContext<unknown> = { ...ctx, name, key, observed, status: this.opts.status, now: this.now };
    const result = await r.apply(actions, applyCtx);
    if (actions.some((a) => isChange(a) && a.action !== 'wait')) this.dispatch({ type: 'applied', key });
    return result;
  }

  /**
   * One reconcile under a deadline. On timeout the signal aborts (cooperative calls stop) and the
   * worker is free at once; a call that ignores the signal keeps its key blocked until it settles,
   * so one key never runs twice at the same time.
   */
  private async withDeadline(r: AnyReconciler, key: string, name: string, ctx: ObserveContext, deadline: AbortController): Promise<ReconcileResult> {
    const limitMs = r.timeoutMs ?? this.opts.reconcileTimeoutMs ?? DEFAULT_RECONCILE_TIMEOUT_MS;
    const running = this.reconcileOnce(r, key, name, ctx);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new ReconcileTimeout(`reconcile did not finish within ${Math.round(limitMs / 1000)}s`);
        deadline.abort(err);
        reject(err);
      }, limitMs);
      timer.unref();
    });
    try {
      return await Promise.race([running, expired]);
    } catch (err) {
      if (err instanceof ReconcileTimeout) {
        const settled = running.then(
          () => undefined,
          () => undefined,
        );
        this.stuck.set(key, settled);
        void settled.then(() => {
          this.stuck.delete(key);
          if (!this.abort.signal.aborted) this.queue.retryAfter(key, this.backoff.next(key));
        });
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private async handle(key: string): Promise<void> {
    this.lastLoopAt = Date.now();
    const { kind, name } = parseResourceKey(key);
    const reconciler = this.byKind.get(kind);
    // A key whose timed-out reconcile is still running is enqueued again when that one settles.
    if (!reconciler || !this.loaded || this.stuck.has(key)) return;
    const revision = this.desired.revision;
    const suspended = this.opts.suspended?.(key, this.desired);
    if (suspended) {
      this.opts.status.setCondition(key, 'Suspended', 'True', 'Suspended', suspended.message);
      if (!suspended.bySpec) {
        // Nobody looks while it is suspended: what Ready said last may no longer be true.
        this.opts.status.setCondition(key, 'Ready', 'Unknown', 'Suspended', 'not observed while suspended');
        // Nothing to converge while suspended: the revision may count as applied without it.
        this.markDone(key);
        return;
      }
    }
    const { metrics } = this.opts;
    const end = metrics.reconcileTime.startTimer({ kind });
    const deadline = new AbortController();
    const ctx = this.observeContext(key, AbortSignal.any([this.abort.signal, deadline.signal]));
    const log = ctx.log;
    try {
      const result = await this.withDeadline(reconciler, key, name, ctx, deadline);
      this.backoff.forget(key);
      this.opts.status.setError(key, undefined);
      if (result.requeueAfterMs !== undefined) {
        this.queue.addAfter(key, result.requeueAfterMs);
        metrics.reconcileTotal.labels(kind, 'requeue_after').inc();
      } else {
        metrics.reconcileTotal.labels(kind, 'success').inc();
      }
      if (revision === this.desired.revision && !result.pending) this.markDone(key);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.opts.status.setError(key, error);
      if (error instanceof TerminalError) {
        metrics.reconcileTotal.labels(kind, 'terminal').inc();
        log.error({ err: error.message }, 'reconcile failed; not retrying until something changes');
        return;
      }
      metrics.reconcileTotal.labels(kind, 'error').inc();
      if (error instanceof ReconcileTimeout) {
        metrics.reconcileTimeouts.labels(kind).inc();
        log.error({ err: error.message }, 'reconcile timed out; retrying once the call in flight has ended');
        return;
      }
      if (isProgrammingError(error)) {
        metrics.reconcileUnexpectedErrors.labels(kind).inc();
        log.error({ err: error.message, stack: error.stack }, 'reconcile failed with an unexpected error; retrying');
      }
      const delay = this.backoff.next(key);
      if (!isProgrammingError(error)) log.warn({ err: error.message, retryInMs: delay, failures: this.backoff.failuresOf(key) }, 'reconcile failed; retrying');
      if (!this.abort.signal.aborted) this.queue.retryAfter(key, delay);
    } finally {
      end();
    }
  }

  private markDone(key: string): void {
    if (!this.pending.delete(key) || this.pending.size > 0) return;
    if (this.appliedRevision === this.desired.revision) return;
    if (this.appliedRevision) this.opts.metrics.appliedRevision.remove(this.appliedRevision);
    this.appliedRevision = this.desired.revision;
    this.opts.metrics.appliedRevision.labels(this.appliedRevision).set(1);
    this.opts.state.set('meta', 'appliedRevision', this.appliedRevision);
    this.opts.log.info({ revision: this.appliedRevision }, 'revision applied');
  }
}
