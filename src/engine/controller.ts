import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { DesiredState } from '../manifests/desired-state.js';
import { parseResourceKey, resourceKey, TerminalError, type PlannedAction, type ReconcileContext, type Reconciler } from '../reconcilers/types.js';
import type { DurableState } from '../state/durable-state.js';
import type { StatusBoard } from '../state/status-board.js';
import { PerKeyBackoff } from './backoff.js';
import type { EngineMetrics } from './engine-metrics.js';
import { WorkQueue } from './work-queue.js';

export interface ControllerOptions {
  reconcilers: readonly Reconciler[];
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
}

/**
 * The loop: holds the current desired snapshot, turns every trigger (new snapshot, Docker event,
 * timer, resync) into a key on the queue, and runs one reconcile per key at a time. Errors are
 * logged here, once, with the key and a reconcile id.
 */
export class Controller {
  private desired = DesiredState.empty();
  /**
   * Nothing is reconciled before the first snapshot arrives: against the empty placeholder every
   * owned container would look undeclared and be removed.
   */
  private loaded = false;
  private readonly byKind: Map<string, Reconciler>;
  private readonly queue: WorkQueue;
  private readonly backoff: PerKeyBackoff;
  private readonly abort = new AbortController();
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
    this.queue = new WorkQueue((key) => this.handle(key), opts.concurrency ?? 4, (depth) => opts.metrics.queueDepth.set(depth));
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

  /** Sets the snapshot without enqueuing anything (for plan). */
  useSnapshot(next: DesiredState): void {
    this.desired = next;
  }

  /** Replaces the desired snapshot and enqueues every declared and every owned resource. */
  async setDesired(next: DesiredState): Promise<void> {
    this.desired = next;
    this.loaded = true;
    this.pending = new Set(next.all().map((r) => resourceKey(r.kind, r.name)));
    for (const kind of this.byKind.keys()) this.opts.metrics.desiredResources.labels(kind).set(next.list(kind as never).length);
    await this.resync('new-revision');
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
    this.opts.metrics.queueAdds.inc();
    this.queue.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    this.queue.addAfter(key, ms);
  }

  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  /** Every action that reconciling would take now, in no particular order; changes nothing. */
  async plan(): Promise<PlannedAction[]> {
    const keys = new Set(this.desired.all().map((r) => resourceKey(r.kind, r.name)));
    for (const r of this.byKind.values()) for (const name of await r.listOwned()) keys.add(resourceKey(r.kind, name));
    const out: PlannedAction[] = [];
    for (const key of [...keys].sort()) {
      const { kind, name } = parseResourceKey(key);
      const r = this.byKind.get(kind);
      if (r) out.push(...(await r.plan(name, this.context(key))));
    }
    return out;
  }

  private context(key: string): ReconcileContext {
    const reconcileId = randomBytes(4).toString('hex');
    return {
      desired: this.desired,
      log: this.opts.log.child({ key, reconcileId }),
      now: this.now,
      status: this.opts.status,
      signal: this.abort.signal,
    };
  }

  private async handle(key: string): Promise<void> {
    this.lastLoopAt = Date.now();
    const { kind, name } = parseResourceKey(key);
    const reconciler = this.byKind.get(kind);
    if (!reconciler || !this.loaded) return;
    const ctx = this.context(key);
    const revision = this.desired.revision;
    const end = this.opts.metrics.reconcileTime.startTimer({ kind });
    try {
      const result = await reconciler.reconcile(name, ctx);
      this.backoff.forget(key);
      this.opts.status.setError(key, undefined);
      if (result.requeueAfterMs !== undefined) {
        this.queue.addAfter(key, result.requeueAfterMs);
        this.opts.metrics.reconcileTotal.labels(kind, 'requeue_after').inc();
      } else {
        this.opts.metrics.reconcileTotal.labels(kind, 'success').inc();
      }
      if (revision === this.desired.revision && !result.pending) this.markDone(key);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.opts.status.setError(key, error);
      if (error instanceof TerminalError) {
        this.opts.metrics.reconcileTotal.labels(kind, 'terminal').inc();
        ctx.log.error({ err: error.message }, 'reconcile failed; not retrying until something changes');
      } else {
        const delay = this.backoff.next(key);
        this.opts.metrics.reconcileTotal.labels(kind, 'error').inc();
        ctx.log.warn({ err: error.message, retryInMs: delay, failures: this.backoff.failuresOf(key) }, 'reconcile failed; retrying');
        if (!this.abort.signal.aborted) this.queue.addAfter(key, delay);
      }
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
