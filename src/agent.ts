import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AgentConfig } from './config.js';
import type { Controller } from './engine/controller.js';
import type { DockerEvents } from './engine/docker-events.js';
import type { EngineMetrics } from './engine/engine-metrics.js';
import type { DesiredState } from './manifests/desired-state.js';
import type { FolderWatcher } from './manifests/folder-watcher.js';
import { loadManifests, type LoadResult } from './manifests/load.js';
import type { IssuedCertificates } from './manifests/checks/check-context.js';
import type { HostRules } from './manifests/host-policy.js';
import { scrubDeep } from './log.js';
import { AGENT_SOCKET_FILE } from './server/unix-socket.js';
import { AGENT_VERSION } from './version.js';
import type { ReloadableSecrets } from './manifests/reloadable-secrets.js';
import { formatManifestError, type ManifestError } from './manifests/source.js';
import { resourceKey, type PlannedAction } from './engine/reconcile.js';
import type { AgentHttpServer } from './server/http-server.js';
import type { GitManifestSource } from './sources/git-source.js';
import type { StackOutputsResult } from './aws/stack-outputs.js';
import type { StateDirLock } from './state/state-dir-lock.js';
import type { StatusBoard } from './state/status-board.js';
import type { BackupCatalog } from './backup/backup-catalog.js';
import type { OperatorRequests, RestartRequest } from './state/operator-requests.js';

export interface AgentParts {
  config: AgentConfig;
  log: Logger;
  registry: Registry;
  secrets: ReloadableSecrets;
  status: StatusBoard;
  controller: Controller;
  events: DockerEvents;
  server: AgentHttpServer;
  metrics: EngineMetrics;
  /** Extra work to stop on shutdown (schedulers, publishers). */
  extraStops?: (() => Promise<void>)[];
  /** Manifests from git: each new commit's checkout replaces the folder. */
  git?: GitManifestSource;
  /** Told once the first snapshot is applied and the listener is up (systemd Type=notify). */
  onReady?: () => void;
  /** The bootstrap stack's outputs for `${cfn:Name}` references in manifests. */
  cfnOutputs?: () => Promise<StackOutputsResult>;
  /** The host policy checks run on every load, with what the agent issued (the keyFile rule). */
  checks?: { rules: HostRules; issued: () => IssuedCertificates };
  /** Scrubs every known secret from text (plan output). */
  scrub?: (text: string) => string;
  /** Backup list/verify/restore over the current snapshot: what the CLI's tooling builds too, for the agent's API. */
  backups?: BackupCatalog;
  /** Held while this agent acts on the state dir (`run`, `apply`); released by stop(). */
  lock?: StateDirLock;
  /** Suspensions and restarts an operator asked for, laid over every snapshot. */
  requests?: OperatorRequests;
}

/** What `restart SERVICE` answers: the request, and the spec the service ran before it. */
export interface RestartAccepted extends RestartRequest {
  service: string;
  fromHash: string | undefined;
}

/** How an interrupted `apply` ended: what was let finish, what got done, what was not started. */
export interface ApplyInterruption {
  reason: string;
  /** Reconciles that were running when the interrupt came and were let finish. */
  inFlight: string[];
  /** Keys of the snapshot that reconciled to completion. */
  done: string[];
  /** Keys of the snapshot not (or not yet successfully) reconciled. */
  pending: string[];
}

export interface ApplyResult {
  converged: boolean;
  load: ManifestLoadState;
  notReady: string[];
  interrupted?: ApplyInterruption;
}

export interface ManifestLoadState {
  ok: boolean;
  at: string;
  revision?: string;
  errors: string[];
  /** Allowed risks (a secret too short to scrub safely, a secrets file others can read); errors with --strict. */
  warnings: string[];
}

/** An operator's request the agent refuses, with the HTTP status that says why (404 unknown, 409 not now). */
export class OperatorRequestError extends Error {
  override readonly name = 'OperatorRequestError';
  constructor(
    readonly status: 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

/** While the manifests are broken or missing, look for a fix this often (besides file events). */
const RETRY_LOAD_MS = 5000;
/**
 * The loader never opens FIFOs or devices, but a read can still hang (a stuck network file
 * system): past this the load counts as failed, so the reloads after it are not held up.
 */
export const LOAD_TIMEOUT_MS = 60_000;

/** The running agent: manifests in, controller turning, events followed, HTTP served. */
export class Agent {
  private watcher: FolderWatcher | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private loading: Promise<ManifestLoadState> | undefined;
  private reloadAgain = false;
  lastLoad: ManifestLoadState | undefined;
  /** The folder loaded from: the configured one, or the checkout of the newest git commit. */
  private sourceDir: string;
  private sourceCommit: string | undefined;
  /** Where the HTTP server listens once `run` started it (port 0 resolves to a real port). */
  address: { host: string; port: number } | undefined;
  private readonly startedAt = new Date().toISOString();
  private interruption: { reason: string; drained: Promise<{ inFlight: string[] }> } | undefined;
  /** The last snapshot loaded, before the operator's requests were laid over it. */
  private loaded: DesiredState | undefined;

  constructor(readonly parts: AgentParts) {
    this.sourceDir = parts.config.manifestsDir;
  }

  /**
   * Loads the folder as one transaction. On any error nothing changes: the last good snapshot stays
   * applied and the errors go to the log, /status and metrics. An empty folder is refused too unless
   * --allow-empty: it would remove everything.
   */
  reload(reason: string): Promise<ManifestLoadState> {
    if (this.loading) {
      this.reloadAgain = true;
      return this.loading;
    }
    this.loading = this.doReload(reason).catch((err: unknown) => this.loadFailed(reason, err)).finally(() => {
      this.loading = undefined;
      if (this.reloadAgain) {
        this.reloadAgain = false;
        void this.reload('changed during load');
      }
    });
    return this.loading;
  }

  private async doReload(reason: string): Promise<ManifestLoadState> {
    const { config, log, metrics, controller } = this.parts;
    this.parts.secrets.reload();
    const commit = this.sourceCommit;
    const result = await this.loadSource(this.sourceDir, commit);
    const warnings = result.warnings.map(formatManifestError);
    for (const w of warnings) log.warn({ reason }, `manifest warning: ${w}`);
    metrics.manifestLoadTimestamp.setToCurrentTime();
    const errors = this.refusals(result);
    if (errors.length > 0 || !result.ok) {
      metrics.manifestLoadSuccess.set(0);
      metrics.manifestLoadErrors.inc();
      const lines = errors.map(formatManifestError);
      for (const line of lines) log.error({ reason }, `manifest rejected: ${line}`);
      log.warn({ keptRevision: controller.current.revision }, 'manifests rejected as a whole; the last good state stays applied');
      this.lastLoad = { ok: false, at: new Date().toISOString(), errors: lines, warnings };
      // A git commit never changes; a local folder may be fixed (or come back) without an event.
      if (!this.sourceCommit) this.scheduleRetry();
      return this.lastLoad;
    }
    // Validated: only now may the commit's files reach what the resources point at.
    if (commit) await this.syncWorkspace(commit);
    metrics.manifestLoadSuccess.set(1);
    this.lastLoad = { ok: true, at: new Date().toISOString(), revision: result.state.revision, errors: [], warnings };
    this.loaded = result.state;
    if (result.state.revision !== controller.current.revision || result.state.origin !== controller.current.origin) {
      log.info({ revision: result.state.revision, resources: result.state.size, reason, origin: result.state.origin }, 'manifests loaded');
      await controller.setDesired(this.withRequests(result.state));
    }
    if (commit) await this.parts.git?.markApplied(commit);
    return this.lastLoad;
  }

  /**
   * Why a load must not be applied: its errors, or an empty folder without --allow-empty (it would
   * remove everything). `plan` refuses exactly what `apply` and the daemon refuse.
   */
  private refusals(result: LoadResult): ManifestError[] {
    if (!result.ok) return result.errors;
    if (result.state.size === 0 && !this.parts.config.allowEmpty) {
      return [{ file: this.parts.config.manifestsDir, line: 1, col: 1, path: '', message: 'no manifests found; refusing to remove everything (start with --allow-empty to allow it)' }];
    }
    return [];
  }

  /**
   * Loads from the real path behind the folder, so a git checkout switched mid-load (the symlink
   * moves) cannot mix two trees. A commit's resources are addressed at the git workspace: their
   * relative paths are the same for every commit, so a commit that changes nothing else changes
   * no spec hash and no certificate path.
   */
  private async loadSource(sourceDir: string, commit: string | undefined): Promise<LoadResult> {
    const dir = await realpath(sourceDir).catch(() => sourceDir);
    const { checks, git } = this.parts;
    const load = loadManifests(dir, {
      secrets: this.parts.secrets,
      origin: commit ? `git:${commit}` : this.parts.config.manifestsDir,
      cfnOutputs: this.parts.cfnOutputs,
      strict: this.parts.config.strict,
      ...(checks ? { rules: checks.rules, issued: checks.issued() } : {}),
      ...(commit && git ? { displayBase: dir, addressAs: git.workspacePath } : {}),
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<LoadResult>((resolve) => {
      timer = setTimeout(() => {
        const message = `reading the manifests did not finish within ${LOAD_TIMEOUT_MS / 1000} s (a file that cannot be read to the end?); the last good state stays applied`;
        resolve({ ok: false, files: [], warnings: [], errors: [{ file: dir, line: 1, col: 1, path: '', message }] });
      }, LOAD_TIMEOUT_MS);
      timer.unref();
    });
    try {
      return await Promise.race([load, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Makes the workspace hold the commit's files; a failure is a failed load (retried), never a half-applied one. */
  private async syncWorkspace(commit: string): Promise<void> {
    const git = this.parts.git;
    if (!git) return;
    const changed = await git.syncWorkspace(commit);
    if (changed.created.length + changed.updated.length + changed.removed.length === 0) return;
    const { created, updated, removed } = changed;
    this.parts.log.info(
      { commit, workspace: git.workspacePath, created: created.length, updated: updated.length, removed: removed.length, files: [...updated, ...created, ...removed].slice(0, 20) },
      'workspace synced',
    );
  }

  /** Anything unexpected while loading is a rejected load like any other, never a crash. */
  private loadFailed(reason: string, err: unknown): ManifestLoadState {
    const message = err instanceof Error ? err.message : String(err);
    this.parts.metrics.manifestLoadSuccess.set(0);
    this.parts.metrics.manifestLoadErrors.inc();
    this.parts.log.error({ reason, err: message }, 'loading manifests failed; the last good state stays applied');
    this.lastLoad = { ok: false, at: new Date().toISOString(), errors: [message], warnings: [] };
    this.scheduleRetry();
    return this.lastLoad;
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.reload('retry after error');
    }, RETRY_LOAD_MS);
    this.retryTimer.unref();
  }

  /** The daemon: serve, follow events, watch the folder, reconcile until stopped. */
  async run(): Promise<void> {
    const { config, log, server, events, controller } = this.parts;
    const addr = await server.listen(config.listen);
    this.address = { host: addr.address, port: addr.port };
    await server.listenSocket(join(config.stateDir, AGENT_SOCKET_FILE));
    log.info({ address: `${addr.address}:${addr.port}`, manifests: config.manifestsDir, instance: config.instance }, 'agent listening');
    controller.start();
    events.start();
    const git = this.parts.git;
    if (git) {
      // Start from the commit applied before a restart, so a bad newer commit is not a blank slate.
      const applied = await git.appliedDir();
      if (applied) this.useCommit(applied.dir, applied.commit);
      git.onChange((dir, commit) => {
        this.useCommit(dir, commit);
        return this.reload(`git commit ${commit.slice(0, 12)}`).then(() => undefined);
      });
    }
    // With git and nothing applied yet, the first sync delivers the first folder.
    if (!git || this.sourceCommit) await this.reload('startup');
    await git?.start();
    // Checkouts are immutable; only a local folder (and the secrets file) need watching.
    const paths = [...(git ? [] : [config.manifestsDir]), ...(config.secretsFile ? [config.secretsFile] : [])];
    if (paths.length > 0) {
      // Loaded here: only the daemon watches files.
      const { FolderWatcher } = await import('./manifests/folder-watcher.js');
      this.watcher = new FolderWatcher(paths, () => void this.reload('files changed'));
      this.watcher.start();
    }
    this.parts.onReady?.();
  }

  private useCommit(dir: string, commit: string): void {
    this.sourceDir = dir;
    this.sourceCommit = commit;
  }

  /**
   * One pass to convergence for scripts and tests: load, reconcile, and wait until the revision is
   * applied and every service is ready, or until the timeout. After {@link interrupt} it returns
   * early, once the reconciles in flight have finished.
   */
  async applyOnce(
    timeoutMs: number,
    onProgress?: (p: { ready: number; total: number; notReady: string[]; elapsedMs: number }) => void,
  ): Promise<ApplyResult> {
    const { controller, events } = this.parts;
    controller.start();
    events.start();
    const load = await this.reload('apply');
    if (!load.ok) return { converged: false, load, notReady: [], ...(await this.interruptionOutcome()) };
    const started = Date.now();
    const deadline = started + timeoutMs;
    const total = this.parts.controller.current.list('Service').length;
    for (let tick = 0; ; tick++) {
      if (this.interruption) return { converged: false, load, notReady: this.notReadyServices(), ...(await this.interruptionOutcome()) };
      const notReady = this.notReadyServices();
      if (tick % 10 === 9) onProgress?.({ ready: total - notReady.length, total, notReady, elapsedMs: Date.now() - started });
      if (controller.isApplied() && notReady.length === 0) return { converged: true, load, notReady };
      if (Date.now() > deadline) return { converged: false, load, notReady };
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Ends an {@link applyOnce} early (SIGINT, SIGTERM): no new reconcile starts from now on, and the
   * ones in flight finish undisturbed, so no service is left between its old container and its new
   * one. Safe to call before applyOnce, and more than once.
   */
  interrupt(reason: string): void {
    this.interruption ??= { reason, drained: this.parts.controller.drain() };
  }

  private async interruptionOutcome(): Promise<{ interrupted?: ApplyInterruption }> {
    if (!this.interruption) return {};
    const { inFlight } = await this.interruption.drained;
    const pending = this.parts.controller.pendingKeys();
    const waiting = new Set(pending);
    const done = this.parts.controller.current
      .all()
      .map((r) => resourceKey(r.kind, r.name))
      .filter((key) => !waiting.has(key))
      .sort();
    return { interrupted: { reason: this.interruption.reason, inFlight, done, pending } };
  }

  /** What `apply` would do, computed against the live engine without changing anything. */
  async plan(): Promise<{ load: ManifestLoadState; actions: PlannedAction[] }> {
    this.parts.secrets.reload();
    const result = await this.loadSource(this.sourceDir, this.sourceCommit);
    const warnings = result.warnings.map(formatManifestError);
    const errors = this.refusals(result);
    if (!result.ok || errors.length > 0) {
      return { load: { ok: false, at: new Date().toISOString(), errors: errors.map(formatManifestError), warnings }, actions: [] };
    }
    this.parts.controller.useSnapshot(this.withRequests(result.state));
    const actions = await this.parts.controller.plan();
    const scrub = this.parts.scrub ?? ((t: string) => t);
    return { load: { ok: true, at: new Date().toISOString(), revision: result.state.revision, errors: [], warnings }, actions: scrubDeep(actions, scrub) };
  }

  private withRequests(snapshot: DesiredState): DesiredState {
    return this.parts.requests?.overlay(snapshot) ?? snapshot;
  }

  private requests(): OperatorRequests {
    if (!this.parts.requests) throw new Error('this agent takes no operator requests');
    return this.parts.requests;
  }

  /** Lays the requests over the last snapshot again and has the controller look at `key`. */
  private amend(key: string): void {
    if (this.loaded) this.parts.controller.amend(this.withRequests(this.loaded), key);
    else this.parts.controller.enqueue(key);
  }

  private declared(kind: string, name: string): void {
    if (!this.parts.controller.current.get(kind as 'Service', name)) throw new OperatorRequestError(404, `${kind}/${name} is not declared in the manifests`);
  }

  /**
   * `suspend KIND/NAME` (Flux's verb): the agent stops acting on the resource (no heals, no
   * runs, no renewals, no rollouts) until {@link resume}; its status says so. Persisted.
   */
  suspend(kind: string, name: string): { key: string; at: string } {
    this.declared(kind, name);
    const key = resourceKey(kind, name);
    const { at } = this.requests().suspend(key);
    this.parts.log.info({ key }, 'suspended by an operator');
    this.amend(key);
    return { key, at };
  }

  resume(kind: string, name: string): { key: string; wasSuspended: boolean } {
    const key = resourceKey(kind, name);
    const wasSuspended = this.requests().resume(key);
    if (!wasSuspended) this.declared(kind, name);
    this.parts.status.clearCondition(key, 'Suspended');
    if (wasSuspended) this.parts.log.info({ key }, 'resumed by an operator');
    this.amend(key);
    return { key, wasSuspended };
  }

  /**
   * `restart SERVICE`: a new restart generation in the service's spec (kubectl rollout restart),
   * so it is replaced through the normal rollout: StartFirst, health-gated, where the service allows.
   */
  restart(name: string): RestartAccepted {
    this.declared('Service', name);
    const key = resourceKey('Service', name);
    if (this.parts.requests?.suspension(key)) throw new OperatorRequestError(409, `${key} is suspended; resume it first (certitrack-agent resume ${key})`);
    const fromHash = this.parts.status.get(key)?.details.specHash;
    const request = this.requests().restart(name);
    this.parts.log.info({ key, generation: request.generation }, 'restart requested by an operator');
    this.amend(key);
    return { service: name, ...request, fromHash: typeof fromHash === 'string' ? fromHash : undefined };
  }

  /** Why a trigger (run-now, backup run, cert renew) of `key` is refused now, if it is. */
  triggerRefusal(key: string): string | undefined {
    return this.parts.requests?.suspension(key) ? `${key} is suspended; resume it first (certitrack-agent resume ${key})` : undefined;
  }

  notReadyServices(): string[] {
    const desired: DesiredState = this.parts.controller.current;
    return desired
      .list('Service')
      .map((s) => s.name)
      .filter((name) => !this.parts.status.isTrue(resourceKey('Service', name), 'Ready') && !this.parts.status.isTrue(resourceKey('Service', name), 'Suspended'));
  }

  /** Who this is, for a client that must check it reached the agent it meant (GET /v1/info). */
  info(): Record<string, unknown> {
    const { config } = this.parts;
    return { instance: config.instance, version: AGENT_VERSION, pid: process.pid, startedAt: this.startedAt, stateDir: config.stateDir, manifests: config.manifestsDir };
  }

  statusDocument(): Record<string, unknown> {
    const { controller, status } = this.parts;
    return {
      agent: { instance: this.parts.config.instance, version: AGENT_VERSION },
      revision: controller.current.revision,
      appliedRevision: controller.applied ?? null,
      origin: controller.current.origin,
      manifests: this.lastLoad ?? null,
      eventsConnected: this.parts.events.connected,
      git: this.parts.git?.status() ?? null,
      resources: status.all(),
    };
  }

  async stop(): Promise<void> {
    const { server, events, controller, log } = this.parts;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.watcher?.stop();
    await this.parts.git?.stop();
    await events.stop();
    await controller.stop();
    // After the controller: no new job may start while running ones are being stopped.
    await Promise.all((this.parts.extraStops ?? []).map((s) => s()));
    await server.close();
    await this.parts.lock?.release();
    log.info('agent stopped; containers left running');
  }
}
