import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitSyncError } from '../../src/sources/git-cli.js';
import { GitManifestSource, type GitManifestSourceOptions } from '../../src/sources/git-source.js';
import { createWebhookHandler, createWebhookRoute, WEBHOOK_PATH } from '../../src/sources/webhook.js';
import { startGitHttpServer } from '../helpers/git-http-server.js';

const log = pino({ level: 'silent' });
const root = mkdtempSync(join(tmpdir(), 'git-source-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const GIT_ENV = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0' };
const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();

/** A bare "origin" plus a clone to commit from, as a developer pushing manifests would have. */
class Remote {
  readonly bare: string;
  readonly work: string;
  private generation = 0;

  constructor(readonly dir: string) {
    this.bare = join(dir, 'origin.git');
    this.work = join(dir, 'work');
    mkdirSync(dir, { recursive: true });
    git(dir, 'init', '--quiet', '--bare', '--initial-branch=main', this.bare);
    git(dir, 'init', '--quiet', '--initial-branch=main', this.work);
    git(this.work, 'config', 'user.name', 'Test Operator');
    git(this.work, 'config', 'user.email', 'operator@example.test');
    git(this.work, 'remote', 'add', 'origin', this.bare);
  }

  /** Commits FILES manifests that all carry the same generation number, and pushes. */
  push(files = 3, extra: Record<string, string> = {}): string {
    this.generation += 1;
    for (const f of readdirSync(this.work)) if (f.endsWith('.yaml')) rmSync(join(this.work, f));
    for (let i = 0; i < files; i++) writeFileSync(join(this.work, `svc-${i}.yaml`), `generation: ${this.generation}\nfiles: ${files}\n`);
    for (const [path, content] of Object.entries(extra)) {
      mkdirSync(join(this.work, path, '..'), { recursive: true });
      writeFileSync(join(this.work, path), content);
    }
    git(this.work, 'add', '--all');
    git(this.work, 'commit', '--quiet', '-m', `generation ${this.generation}`);
    git(this.work, 'push', '--quiet', 'origin', 'HEAD:main');
    return git(this.work, 'rev-parse', 'HEAD');
  }
}

let caseDir: string;
let counter = 0;
const sources: GitManifestSource[] = [];
beforeEach(() => {
  caseDir = join(root, `case-${++counter}`);
  mkdirSync(caseDir);
});
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
});

function source(remote: Remote | string, overrides: Partial<GitManifestSourceOptions> = {}): GitManifestSource {
  const s = new GitManifestSource({
    url: typeof remote === 'string' ? remote : remote.bare,
    branch: 'main',
    pollIntervalMs: 60_000,
    workDir: join(caseDir, 'agent'),
    log,
    gitTimeoutMs: 20_000,
    ...overrides,
  });
  sources.push(s);
  return s;
}

const generationIn = (dir: string): string => readFileSync(join(dir, 'svc-0.yaml'), 'utf8').split('\n')[0] ?? '';

/** Resolves with the first change whose commit satisfies `predicate`. */
const nextChange = (s: GitManifestSource, predicate: (commit: string) => boolean): Promise<{ dir: string; commit: string }> =>
  new Promise((resolve) => {
    const off = s.onChange((dir, commit) => {
      if (!predicate(commit)) return;
      off();
      resolve({ dir, commit });
    });
  });

describe('GitManifestSource', () => {
  it('checks out the branch on the first sync and points current at it', async () => {
    const remote = new Remote(join(caseDir, 'remote'));
    const head = remote.push();
    const s = source(remote);
    const changes: string[] = [];
    s.onChange((_dir, commit) => void changes.push(commit));

    const first = await s.syncNow();
    expect(first).toEqual({ commit: head, dir: join(caseDir, 'agent', 'checkouts', head), changed: true });
    expect(realpathSync(s.currentPath)).toBe(realpathSync(first.dir));
    expect(generationIn(s.currentPath)).toBe('generation: 1');
    expect(existsSync(join(first.dir, '.git'))).toBe(false);

    const again = await s.syncNow();
    expect(again).toEqual({ ...first, changed: false });
    expect(changes).toEqual([head]);
    expect(s.status()).toMatchObject({ commit: head, consecutiveFailures: 0, lastError: undefined });
  });

  it('picks up a pushed commit on syncNow, keeps the previous checkout and prunes older ones', async () => {
    const remote = new Remote(join(caseDir, 'remote'));
    const c1 = remote.push();
    const s = source(remote);
    await s.syncNow();
    const c2 = remote.push();
    const second = await s.syncNow();
    expect(second).toMatchObject({ commit: c2, changed: true });
    expect(generationIn(s.currentPath)).toBe('generation: 2');
    expect(existsSync(join(caseDir, 'agent', 'checkouts', c1))).toBe(true);

    const c3 = remote.push();
    await s.syncNow();
    const kept = readdirSync(join(caseDir, 'agent', 'checkouts')).sort();
    expect(kept).toEqual([c2, c3].sort());
  });

  it('picks up a pushed commit by polling within the interval', async () => {
    const remote = new Remote(join(caseDir, 'remote'));
    const c1 = remote.push();
    const s = source(remote, { pollIntervalMs: 100 });
    const initial = nextChange(s, (c) => c === c1);
    await s.start();
    await initial;
    const pushed = remote.push();
    const change = await nextChange(s, (c) => c === pushed);
    expect(generationIn(change.dir)).toBe('generation: 2');
  });

  it('keeps the current checkout when the repository becomes unreachable, and recovers', async () => {
    const remote = new Remote(join(caseDir, 'remote'));
    const c1 = remote.push();
    const s = source(remote);
    await s.syncNow();
    renameSync(remote.bare, `${remote.bare}.gone`);

    const failed = s.syncNow();
    await expect(failed).rejects.toBeInstanceOf(GitSyncError);
    await expect(failed).rejects.toMatchObject({ operation: 'fetch', message: expect.stringMatching(/^git fetch failed: /) });
    expect(generationIn(s.currentPath)).toBe('generation: 1');
    expect(s.status()).toMatchObject({ commit: c1, consecutiveFailures: 1, lastError: { operation: 'fetch' } });

    renameSync(`${remote.bare}.gone`, remote.bare);
    const c2 = remote.push();
    await expect(s.syncNow()).resolves.toMatchObject({ commit: c2, changed: true });
    expect(s.status()).toMatchObject({ consecutiveFailures: 0, lastError: undefined });
  });

  it('names the step when the branch does not exist or the folder is missing, and switches nothing', async () => {
    const remote = new Remote(join(caseDir, 'remote'));
    remote.push(2, { 'deploy/prod/app.yaml': 'generation: 1\n' });
    await expect(source(remote, { branch: 'no-such-branch', workDir: join(caseDir, 'a') }).syncNow()).rejects.toMatchObject({
      operation: 'fetch',
      message: expect.stringContaining('no-such-branch'),
    });
    expect(existsSync(join(caseDir, 'a', 'current'))).toBe(false);

    const s = source(remote, { subdir: 'deploy/prod', workDir: join(caseDir, 'b') });
    const ok = await s.syncNow();
    expect(ok.dir).toBe(join(caseDir, 'b', 'checkouts', ok.commit, 'deploy/prod'));
    expect(readdirSync(s.currentPath)).toEqual(['app.yaml']);

    rmSync(join(remote.work, 'deploy'), { recursive: true });
    remote.push(2);
    await expect(s.syncNow()).rejects.toMatchObject({ operation: 'checkout', message: expect.stringContaining('"deploy/prod" does not exist') });
    expect(realpathSync(s.currentPath)).toBe(realpathSync(ok.dir));
    expect(readdirSync(join(caseDir, 'b', 'checkouts'))).toEqual([ok.commit]);
  });

  it('switches atomically: a concurrent reader only ever sees complete trees', async () => {
    const remote = new Remote(join(caseDir, 'remote'));
    const FILES = 40;
    remote.push(FILES);
    const s = source(remote);
    await s.syncNow();

    // A real thread, so reads interleave with the switch at any instruction, not only at awaits.
    const reader = new Worker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      const fs = require('node:fs');
      const path = require('node:path');
      let reads = 0, torn = [], stop = false;
      parentPort.on('message', () => { stop = true; });
      (function loop() {
        for (let i = 0; i < 50 && !stop; i++) {
          let dir;
          try {
            dir = fs.realpathSync(workerData.current);
          } catch (e) {
            torn.push('current does not resolve: ' + e.code);
            continue;
          }
          try {
            const names = fs.readdirSync(dir).filter((n) => n.endsWith('.yaml'));
            const gens = new Set(names.map((n) => fs.readFileSync(path.join(dir, n), 'utf8').split('\\n')[0]));
            if (names.length !== workerData.files || gens.size !== 1) torn.push(names.length + ' files, ' + [...gens].join('/'));
            reads++;
          } catch (e) {
            // A pruned folder read after resolving is the reader's race with pruning, not a torn tree.
            if (e.code !== 'ENOENT') torn.push(String(e));
          }
        }
        if (stop) parentPort.postMessage({ reads, torn });
        else setImmediate(loop);
      })();
      `,
      { eval: true, workerData: { current: s.currentPath, files: FILES } },
    );
    const result = new Promise<{ reads: number; torn: string[] }>((resolve, reject) => {
      reader.once('message', resolve);
      reader.once('error', reject);
    });

    for (let i = 0; i < 8; i++) {
      remote.push(FILES);
      await s.syncNow();
    }
    reader.postMessage('stop');
    const { reads, torn } = await result;
    await reader.terminate();
    expect(torn).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    expect(generationIn(s.currentPath)).toBe('generation: 9');
  });

  it('coalesces overlapping syncs into one follow-up', async () => {
    const remote = new Remote(join(caseDir, 'remote'));
    const head = remote.push();
    const s = source(remote);
    const [first, ...rest] = await Promise.all([s.syncNow(), s.syncNow(), s.syncNow(), s.syncNow()]);
    expect(first).toMatchObject({ commit: head, changed: true });
    // The three calls made during the first sync share one follow-up sync and its result.
    expect(rest[0]).toMatchObject({ commit: head, changed: false });
    expect(rest[1]).toBe(rest[0]);
    expect(rest[2]).toBe(rest[0]);
  });

  it('remembers the applied commit across restarts and never prunes it', async () => {
    const remote = new Remote(join(caseDir, 'remote'));
    const good = remote.push();
    const first = source(remote);
    await first.syncNow();
    await first.markApplied(good);
    remote.push();
    await first.syncNow();
    remote.push();
    await first.syncNow();
    await first.stop();

    const restarted = source(remote);
    expect(await restarted.appliedDir()).toEqual({ commit: good, dir: join(caseDir, 'agent', 'checkouts', good) });
    expect(generationIn(join(caseDir, 'agent', 'checkouts', good))).toBe('generation: 1');
  });

  it('syncs the commit\'s manifests folder into one stable workspace, from the tree and not from whatever lies in the checkout', async () => {
    const remote = new Remote(join(caseDir, 'remote'));
    const c1 = remote.push(1, { 'deploy/prod/app.yaml': 'v: 1\n', 'deploy/prod/conf/app.conf': 'one\n', 'deploy/staging/app.yaml': 'v: 0\n' });
    const s = source(remote, { subdir: 'deploy/prod' });
    await s.syncNow();
    expect(s.workspacePath).toBe(join(caseDir, 'agent', 'workspace', 'deploy/prod'));
    expect(s.status().workspace).toBe(s.workspacePath);
    // A file in the checkout that is not in the commit (an older agent wrote certificates there).
    writeFileSync(join(caseDir, 'agent', 'checkouts', c1, 'deploy/prod/cert.pem'), 'not from the repository');
    const first = await s.syncWorkspace(c1);
    expect(first.created.sort()).toEqual(['deploy/prod/app.yaml', 'deploy/prod/conf/app.conf']);
    expect(readdirSync(join(caseDir, 'agent', 'workspace'))).toEqual(['deploy']);
    expect(readdirSync(join(caseDir, 'agent', 'workspace', 'deploy'))).toEqual(['prod']);

    rmSync(join(remote.work, 'deploy/prod/conf'), { recursive: true });
    const c2 = remote.push(1, { 'deploy/prod/app.yaml': 'v: 2\n' });
    await s.syncNow();
    expect(await s.syncWorkspace(c2)).toEqual({ created: [], updated: ['deploy/prod/app.yaml'], removed: ['deploy/prod/conf/app.conf'], unchanged: 0 });
    expect(readFileSync(join(s.workspacePath, 'app.yaml'), 'utf8')).toBe('v: 2\n');
  });

  it('rejects URLs carrying a password and option-like URLs before running git', () => {
    expect(() => source('https://user:s3cret@git.example.test/repo.git')).toThrow(/password/);
    expect(() => source('--upload-pack=touch /tmp/pwned')).toThrow(/invalid repository URL/);
    expect(() => source(join(caseDir, 'x'), { branch: '--help' })).toThrow(/invalid branch/);
    expect(() => source(join(caseDir, 'x'), { subdir: '../outside' })).toThrow(/relative folder/);
  });
});

describe('GitManifestSource over HTTP with a credentials file', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
  });

  it('authenticates from the file, and fails naming the step without leaking the token', async () => {
    const remote = new Remote(join(caseDir, 'remote'));
    const head = remote.push();
    const http = await startGitHttpServer(join(caseDir, 'remote'), 'deploy', 'tok3n-value');
    server = http.server;
    const url = `${http.url}/origin.git`;

    await expect(source(url, { workDir: join(caseDir, 'anonymous') }).syncNow()).rejects.toMatchObject({ operation: 'fetch' });

    const wrong = join(caseDir, 'wrong-credentials');
    writeFileSync(wrong, `${http.url.replace('http://', 'http://deploy:not-the-token@')}\n`);
    const denied = source(url, { workDir: join(caseDir, 'wrong'), credentialsFile: wrong }).syncNow();
    await expect(denied).rejects.toMatchObject({ operation: 'fetch' });
    await expect(denied).rejects.not.toThrow(/not-the-token/);

    const missing = source(url, { workDir: join(caseDir, 'missing'), credentialsFile: join(caseDir, 'nope') }).syncNow();
    await expect(missing).rejects.toMatchObject({ operation: 'credentials' });

    const file = join(caseDir, 'git-credentials');
    writeFileSync(file, `# deploy token\nhttps://other:x@elsewhere.test\n${http.url.replace('http://', 'http://deploy:tok3n-value@')}\n`, { mode: 0o600 });
    const s = source(url, { workDir: join(caseDir, 'ok'), credentialsFile: file });
    await expect(s.syncNow()).resolves.toMatchObject({ commit: head, changed: true });
    expect(http.requests.some((r) => r.endsWith(' auth'))).toBe(true);
    // The helper script holds no secret: it reads them from the one git process's environment.
    expect(readFileSync(join(caseDir, 'ok', 'askpass.sh'), 'utf8')).not.toContain('tok3n');
  });
});

describe('git webhook', () => {
  const SECRET = 'a-webhook-secret-of-some-length';
  let server: Server;
  let base: string;
  let triggers = 0;
  let onTrigger: () => unknown = () => undefined;

  beforeEach(async () => {
    triggers = 0;
    onTrigger = () => undefined;
    const route = createWebhookRoute({
      secret: SECRET,
      onTrigger: () => {
        triggers += 1;
        return onTrigger();
      },
      maxBodyBytes: 4096,
    });
    server = createServer((req, res) => {
      if (route(req, res)) return;
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const post = (body: string, headers: Record<string, string>, method = 'POST') =>
    fetch(`${base}${WEBHOOK_PATH}`, { method, headers: { 'Content-Type': 'application/json', ...headers }, body: method === 'GET' ? undefined : body });
  const sign = (body: string, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

  it('accepts a GitHub signature of the body and a bearer token', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    expect((await post(body, { 'X-Hub-Signature-256': sign(body) })).status).toBe(202);
    expect((await post('', { Authorization: `Bearer ${SECRET}` })).status).toBe(202);
    expect(triggers).toBe(2);
  });

  it('rejects wrong, missing or malformed authentication with 401 and does not trigger', async () => {
    const body = '{"ref":"refs/heads/main"}';
    const cases: Record<string, string>[] = [
      {},
      { 'X-Hub-Signature-256': sign(body, 'another-secret-entirely') },
      { 'X-Hub-Signature-256': sign(`${body} `) },
      { 'X-Hub-Signature-256': 'sha256=zz' },
      { 'X-Hub-Signature-256': sign(body).replace('sha256=', 'sha1=') },
      { Authorization: `Bearer ${SECRET.slice(0, -1)}` },
      { Authorization: `Bearer ${SECRET}x` },
      { Authorization: `Basic ${Buffer.from(`x:${SECRET}`).toString('base64')}` },
      // A valid bearer token does not rescue a bad signature: the signature, when present, decides.
      { 'X-Hub-Signature-256': sign(body, 'wrong-secret-here'), Authorization: `Bearer ${SECRET}` },
    ];
    for (const headers of cases) {
      const res = await post(body, headers);
      expect(res.status, JSON.stringify(headers)).toBe(401);
    }
    expect(triggers).toBe(0);
  });

  it('leaves other paths to the next route', async () => {
    const res = await fetch(`${base}/hooks/other`, { method: 'POST', headers: { Authorization: `Bearer ${SECRET}` } });
    expect(res.status).toBe(404);
    expect(triggers).toBe(0);
  });

  it('answers 405 to other methods and 413 to oversized bodies', async () => {
    expect((await post('', { Authorization: `Bearer ${SECRET}` }, 'GET')).status).toBe(405);
    const big = 'x'.repeat(5000);
    expect((await post(big, { 'X-Hub-Signature-256': sign(big) })).status).toBe(413);
    expect(triggers).toBe(0);
  });

  it('refuses a short secret', () => {
    expect(() => createWebhookHandler({ secret: 'short', onTrigger: () => undefined })).toThrow(/at least 16/);
  });

  it('triggers a sync that applies a pushed commit at once', async () => {
    const remote = new Remote(join(caseDir, 'remote'));
    remote.push();
    const s = source(remote, { pollIntervalMs: 3_600_000 });
    await s.start();
    onTrigger = () => s.syncNow();
    const pushed = remote.push();
    const change = nextChange(s, (c) => c === pushed);
    const body = JSON.stringify({ ref: 'refs/heads/main', after: pushed });
    expect((await post(body, { 'X-Hub-Signature-256': sign(body) })).status).toBe(202);
    expect((await change).commit).toBe(pushed);
  });
});
