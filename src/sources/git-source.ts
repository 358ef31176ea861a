import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, normalize, resolve } from 'node:path';
import type { Logger } from 'pino';
import { readSymlink, switchSymlink } from './atomic-symlink.js';
import { type GitOperation, GitSyncError, redactUrlCredentials, runGit } from './git-cli.js';
import { checkBranchName, checkRepositoryUrl, gitAuth } from './git-credentials.js';
import { syncWorkspace, type WorkspaceSyncResult } from './workspace-sync.js';

export interface GitManifestSourceOptions {
  /** Any URL git understands: https://, ssh://, git@host:path, or a local path. Never with a password in it. */
  url: string;
  branch: string;
  pollIntervalMs: number;
  /** Folder inside the repository that holds the manifests; the whole tree when unset. */
  subdir?: string;
  /** Owned by this source: a bare cache repository, the checkouts, the `current` link and the workspace. */
  workDir: string;
  /** git-credentials lines for HTTP(S), a private key for SSH; see git-credentials.ts. */
  credentialsFile?: string;
  log: Logger;
  now?: () => Date;
  /** Limit for one git command; a hung fetch is killed after it. */
  gitTimeoutMs?: number;
}

export interface SyncResult {
  commit: string;
  /** The checked-out manifests folder of `commit`; it does not change while it is current or previous. */
  dir: string;
  /** The commit differs from the one this source last delivered (always true for the first sync). */
  changed: boolean;
}

export interface GitSourceStatus {
  url: string;
  branch: string;
  subdir?: string;
  commit?: string;
  appliedCommit?: string;
  /** The stable manifests folder every relative path in the manifests resolves into. */
  workspace: string;
  lastAttemptAt?: Date;
  lastSuccessAt?: Date;
  lastError?: { operation: GitOperation; message: string; at: Date };
  consecutiveFailures: number;
}

export type ChangeListener = (dir: string, commit: string) => void | Promise<void>;

const COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const TEMP_PREFIX = '.tmp-';

/**
 * Manifests from a git branch. Each sync fetches into a bare cache repository, checks a new commit
 * out into a fresh `checkouts/<commit>` folder, and only when that tree is complete switches the
 * `current` symlink to it atomically, so a reader never sees a half-written tree. The previous
 * checkout (and the one marked applied) is kept; older ones are pruned.
 *
 * A failed sync (unreachable repository, unknown branch, bad credentials, missing subdir) rejects
 * with a {@link GitSyncError} naming the step, and leaves `current` where it was.
 * Syncs never overlap: calls during a sync share one follow-up sync.
 */
export class GitManifestSource {
  private readonly workDir: string;
  private readonly repoDir: string;
  private readonly checkoutsDir: string;
  private readonly currentLink: string;
  private readonly appliedFile: string;
  private readonly workspaceRoot: string;
  private readonly workspaceRecord: string;
  private readonly subdir: string | undefined;
  private readonly now: () => Date;
  private readonly log: Logger;
  private readonly listeners = new Set<ChangeListener>();

  private initialized = false;
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SyncResult> | undefined;
  private queued: Promise<SyncResult> | undefined;

  private current: string | undefined;
  private previous: string | undefined;
  private applied: string | undefined;
  private delivered: string | undefined;
  private readonly state: GitSourceStatus;

  constructor(private readonly opts: GitManifestSourceOptions) {
    checkRepositoryUrl(opts.url);
    checkBranchName(opts.branch);
    this.subdir = opts.subdir ? checkSubdir(opts.subdir) : undefined;
    this.workDir = resolve(opts.workDir);
    this.repoDir = join(this.workDir, 'repo.git');
    this.checkoutsDir = join(this.workDir, 'checkouts');
    this.currentLink = join(this.workDir, 'current');
    this.appliedFile = join(this.workDir, 'applied-commit');
    this.workspaceRoot = join(this.workDir, 'workspace');
    this.workspaceRecord = join(this.workDir, 'workspace-files.json');
    this.now = opts.now ?? (() => new Date());
    this.log = opts.log.child({ component: 'git-source', repository: redactUrlCredentials(opts.url), branch: opts.branch });
    this.state = { url: redactUrlCredentials(opts.url), branch: opts.branch, subdir: this.subdir, workspace: this.workspacePath, consecutiveFailures: 0 };
  }

  /**
   * The manifests folder as the applied resources see it: one path for every commit, so relative
   * bind mounts, build contexts and certificate files do not change when a commit does. It holds
   * the files of the commit last passed to {@link syncWorkspace}, beside whatever the agent wrote.
   */
  get workspacePath(): string {
    return this.subdir ? join(this.workspaceRoot, this.subdir) : this.workspaceRoot;
  }

  /** The symlink readers may follow; it always resolves to a complete tree once a sync succeeded. */
  get currentPath(): string {
    return this.currentLink;
  }

  /** Calls `listener` after each sync that delivers a different commit. Returns an unsubscribe function. */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Syncs once at once (failures are logged, not thrown), then every pollIntervalMs until stop(). */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    await this.syncNow().catch((err: unknown) => this.logFailure(err));
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([this.running, this.queued]);
  }

  /** Fetches and, if the branch moved, checks out and switches. For polls, webhooks and the CLI alike. */
  syncNow(): Promise<SyncResult> {
    if (this.queued) return this.queued;
    if (this.running) {
      this.queued = this.running
        .catch(() => undefined)
        .then(() => {
          this.queued = undefined;
          return this.runOnce();
        });
      return this.queued;
    }
    return this.runOnce();
  }

  /**
   * Records that `commit` passed validation and was applied: its checkout is never pruned, and
   * {@link appliedDir} finds it after a restart even if a later commit that failed validation is
   * current.
   */
  async markApplied(commit: string): Promise<void> {
    if (!COMMIT.test(commit)) throw new Error(`not a commit id: ${commit}`);
    this.applied = commit;
    this.state.appliedCommit = commit;
    await mkdir(this.workDir, { recursive: true, mode: 0o700 });
    const temp = `${this.appliedFile}.${randomBytes(4).toString('hex')}`;
    await writeFile(temp, `${commit}\n`);
    await rename(temp, this.appliedFile);
  }

  /**
   * Brings the workspace to `commit`'s files in place (see {@link syncWorkspace} in
   * workspace-sync.ts): only the manifests folder, which is all a manifest may refer to. Called
   * once the commit has validated, before its resources are applied.
   */
  async syncWorkspace(commit: string): Promise<WorkspaceSyncResult> {
    if (!COMMIT.test(commit)) throw new Error(`not a commit id: ${commit}`);
    const listing = await runGit(
      'checkout',
      ['--git-dir', this.repoDir, 'ls-tree', '-r', '-z', '--full-tree', commit, '--', ...(this.subdir ? [this.subdir] : [])],
      { env: baseEnvironment(this.workDir), timeoutMs: this.opts.gitTimeoutMs ?? 120_000 },
    );
    // "<mode> <type> <object>\t<path>"; submodules (type commit) have no content to mirror.
    const files = listing
      .split('\0')
      .filter((entry) => entry.includes('\t') && entry.split(' ')[1] === 'blob')
      .map((entry) => entry.slice(entry.indexOf('\t') + 1));
    return syncWorkspace(join(this.checkoutsDir, commit), this.workspaceRoot, files, this.workspaceRecord);
  }

  /** The manifests folder of the last commit marked applied, if its checkout still exists. */
  async appliedDir(): Promise<{ commit: string; dir: string } | undefined> {
    await this.loadLocalState();
    if (!this.applied || !existsSync(join(this.checkoutsDir, this.applied))) return undefined;
    return { commit: this.applied, dir: this.manifestsDir(this.applied) };
  }

  status(): GitSourceStatus {
    return { ...this.state, lastError: this.state.lastError ? { ...this.state.lastError } : undefined };
  }

  private runOnce(): Promise<SyncResult> {
    const run = this.sync().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.syncNow()
        .catch((err: unknown) => this.logFailure(err))
        .finally(() => this.schedule());
    }, this.opts.pollIntervalMs);
    this.timer.unref();
  }

  private logFailure(err: unknown): void {
    const operation = err instanceof GitSyncError ? err.operation : undefined;
    this.log.warn({ operation, err: err instanceof Error ? err.message : String(err), commit: this.current }, 'manifests sync failed; keeping the current checkout');
  }

  private async sync(): Promise<SyncResult> {
    const startedAt = this.now();
    this.state.lastAttemptAt = startedAt;
    try {
      const result = await this.fetchAndSwitch();
      this.state.lastSuccessAt = this.now();
      this.state.consecutiveFailures = 0;
      this.state.lastError = undefined;
      this.state.commit = result.commit;
      if (result.changed) {
        this.delivered = result.commit;
        this.log.info({ commit: result.commit }, 'manifests synced to a new commit');
        this.notify(result);
      }
      return result;
    } catch (err) {
      const error = err instanceof GitSyncError ? err : new GitSyncError('switch', err instanceof Error ? err.message : String(err), { cause: err });
      this.state.consecutiveFailures += 1;
      this.state.lastError = { operation: error.operation, message: error.message, at: this.now() };
      throw error;
    }
  }

  private notify(result: SyncResult): void {
    for (const listener of this.listeners) {
      try {
        Promise.resolve(listener(result.dir, result.commit)).catch((err: unknown) =>
          this.log.error({ err, commit: result.commit }, 'manifests change listener failed'),
        );
      } catch (err) {
        this.log.error({ err, commit: result.commit }, 'manifests change listener failed');
      }
    }
  }

  private async fetchAndSwitch(): Promise<SyncResult> {
    await this.init();
    const auth = await gitAuth(this.opts.url, this.opts.credentialsFile, this.workDir);
    const env = { ...baseEnvironment(this.workDir), ...auth.env };
    const timeoutMs = this.opts.gitTimeoutMs ?? 120_000;
    const git = (op: GitOperation, args: string[], extraEnv: Record<string, string> = {}): Promise<string> =>
      runGit(op, ['--git-dir', this.repoDir, ...args], { env: { ...env, ...extraEnv }, timeoutMs, redact: auth.secrets });

    const ref = `refs/certitrack/${this.opts.branch}`;
    await git('fetch', [
      // Helpers from any config would override the credentials given here.
      '-c', 'credential.helper=',
      '-c', 'http.lowSpeedLimit=1000',
      '-c', 'http.lowSpeedTime=60',
      'fetch', '--quiet', '--no-tags', '--end-of-options', this.opts.url, `+refs/heads/${this.opts.branch}:${ref}`,
    ]);
    const commit = (await git('resolve', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])).trim();
    if (!COMMIT.test(commit)) throw new GitSyncError('resolve', `unexpected commit id "${commit}" for ${this.opts.branch}`);

    const stale =
      commit !== this.current ||
      !existsSync(join(this.checkoutsDir, commit)) ||
      (await readSymlink(this.currentLink)) !== this.linkTarget(commit);
    if (stale) {
      await this.checkout(commit, git);
      await switchSymlink(this.currentLink, this.linkTarget(commit)).catch((err: unknown) => {
        throw new GitSyncError('switch', `cannot point ${this.currentLink} at ${commit}: ${(err as Error).message}`, { cause: err });
      });
      if (this.current !== commit) this.previous = this.current;
      this.current = commit;
      // The switch has happened; a leftover folder is clutter, not a reason to report the sync failed.
      await this.prune().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'cannot prune old checkouts'));
    }
    return { commit, dir: this.manifestsDir(commit), changed: commit !== this.delivered };
  }

  /** Writes the commit's tree into a temporary folder and renames it into place once complete. */
  private async checkout(commit: string, git: (op: GitOperation, args: string[], env?: Record<string, string>) => Promise<string>): Promise<void> {
    const final = join(this.checkoutsDir, commit);
    if (!existsSync(final)) {
      const suffix = randomBytes(6).toString('hex');
      const temp = join(this.checkoutsDir, `${TEMP_PREFIX}${commit.slice(0, 12)}-${suffix}`);
      // A private index file: the cache repository's own index is never touched, so nothing
      // else in it can be left half-updated by a crash here.
      const index = join(this.workDir, `${TEMP_PREFIX}index-${suffix}`);
      try {
        await mkdir(temp, { recursive: true });
        const indexEnv = { GIT_INDEX_FILE: index };
        await git('checkout', ['read-tree', commit], indexEnv);
        // core.symlinks=false: a symlink committed to the repository becomes a small file holding
        // its target, so a manifest cannot make the agent read arbitrary host files.
        await git('checkout', ['-c', 'core.symlinks=false', '--work-tree', temp, 'checkout-index', '--all', '--force'], indexEnv);
        await rename(temp, final);
      } finally {
        await rm(temp, { recursive: true, force: true });
        await rm(index, { force: true });
      }
    }
    if (this.subdir) {
      const dir = join(final, this.subdir);
      const st = await stat(dir).catch(() => undefined);
      if (!st?.isDirectory()) {
        // Removed at once, or pruning would keep it as the newest "previous" checkout.
        if (commit !== this.current && commit !== this.applied && commit !== this.previous) await rm(final, { recursive: true, force: true });
        throw new GitSyncError('checkout', `folder "${this.subdir}" does not exist in commit ${commit}`);
      }
    }
  }

  /** Keeps the current, previous and applied checkouts; removes the others and leftover temporaries. */
  private async prune(): Promise<void> {
    const entries = await readdir(this.checkoutsDir, { withFileTypes: true });
    const keep = new Set([this.current, this.previous, this.applied].filter((c): c is string => c !== undefined));
    const candidates = entries.filter((e) => e.isDirectory() && COMMIT.test(e.name) && !keep.has(e.name)).map((e) => e.name);
    if (this.previous === undefined && candidates.length > 0) {
      // After a restart the previous commit is unknown; the most recently written one is the best guess.
      const times = await Promise.all(candidates.map(async (c) => ({ c, t: (await stat(join(this.checkoutsDir, c))).mtimeMs })));
      times.sort((a, b) => b.t - a.t);
      keep.add((times[0] as { c: string }).c);
    }
    const doomed = [
      ...candidates.filter((c) => !keep.has(c)),
      ...entries.filter((e) => e.name.startsWith(TEMP_PREFIX)).map((e) => e.name),
    ];
    await Promise.all(doomed.map((name) => rm(join(this.checkoutsDir, name), { recursive: true, force: true })));
  }

  private async init(): Promise<void> {
    if (this.initialized) return;
    await mkdir(this.checkoutsDir, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
      throw new GitSyncError('init', `cannot create ${this.checkoutsDir}: ${(err as Error).message}`, { cause: err });
    });
    if (!existsSync(join(this.repoDir, 'HEAD'))) {
      await runGit('init', ['init', '--bare', '--quiet', this.repoDir], { env: baseEnvironment(this.workDir), timeoutMs: 30_000 });
    }
    await this.loadLocalState();
    this.initialized = true;
  }

  /** What an earlier run left: the commit `current` points at and the one marked applied. */
  private async loadLocalState(): Promise<void> {
    if (this.current === undefined) {
      const target = await readSymlink(this.currentLink);
      const commit = target?.split('/')[1];
      if (commit && COMMIT.test(commit) && existsSync(join(this.checkoutsDir, commit))) this.current = commit;
    }
    if (this.applied === undefined) {
      const text = await readFile(this.appliedFile, 'utf8').catch(() => '');
      if (COMMIT.test(text.trim())) {
        this.applied = text.trim();
        this.state.appliedCommit = this.applied;
      }
    }
  }

  private linkTarget(commit: string): string {
    return this.subdir ? join('checkouts', commit, this.subdir) : join('checkouts', commit);
  }

  private manifestsDir(commit: string): string {
    return join(this.workDir, this.linkTarget(commit));
  }
}

function checkSubdir(subdir: string): string {
  const clean = normalize(subdir).replace(/\/+$/, '');
  if (isAbsolute(clean) || clean === '..' || clean.startsWith('../') || clean === '.' || clean === '') {
    throw new GitSyncError('init', `subdir "${subdir}" must be a relative folder inside the repository`);
  }
  return clean;
}

/**
 * git runs with a minimal environment: the agent's own holds secrets (secrets.env is one of the
 * unit's environment files), and user or system git config must not change what is fetched.
 */
function baseEnvironment(workDir: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: workDir,
    LC_ALL: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
  };
  for (const name of ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy']) {
    const v = process.env[name];
    if (v !== undefined) env[name] = v;
  }
  return env;
}
