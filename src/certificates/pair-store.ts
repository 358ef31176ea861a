import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, realpath, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fsyncDir, replaceAtomically, writeFileDurably } from '../state/atomic-write.js';

/**
 * Key and certificate on disk as ONE unit (kubelet's AtomicWriter layout for Secret volumes):
 *
 *   <dir>/cert.pem -> .certitrack-cert.pem/current/cert.pem       (certFile, a relative link)
 *   <dir>/key.pem  -> .certitrack-cert.pem/current/key.pem        (keyFile, a relative link)
 *   <dir>/.certitrack-cert.pem/current -> 20261201T101500Z-1a2b3c (switched with one rename(2))
 *   <dir>/.certitrack-cert.pem/20261201T101500Z-1a2b3c/{cert.pem,key.pem}
 *
 * A new pair goes into a fresh version folder, fsynced, and becomes current with one rename of the
 * `current` link, so every lookup of the pair finds either the whole old pair or the whole new one.
 * Version folders are never changed once written; the previous one is kept (a reader that resolved
 * `current` just before the switch can finish), older ones are removed.
 */
export interface PairPaths {
  readonly certFile: string;
  readonly keyFile: string;
  /** The folder holding the versions and the `current` link, beside certFile. */
  readonly store: string;
}

/** linked: the atomic layout. plain: files from before it (or written by hand), to adopt. absent: nothing. */
export type PairLayout = 'linked' | 'plain' | 'absent';

const CERT = 'cert.pem';
const KEY = 'key.pem';
const CURRENT = 'current';

export function pairPaths(certFile: string, keyFile: string): PairPaths {
  return { certFile, keyFile, store: join(dirname(certFile), `.certitrack-${basename(certFile)}`) };
}

/** What certFile and keyFile must point at in the linked layout. */
const linkTargets = (p: PairPaths): { cert: string; key: string } => ({
  cert: relative(dirname(p.certFile), join(p.store, CURRENT, CERT)),
  key: relative(dirname(p.keyFile), join(p.store, CURRENT, KEY)),
});

async function linkOf(path: string): Promise<string | undefined | null> {
  try {
    const st = await lstat(path);
    return st.isSymbolicLink() ? await readlink(path) : null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Which layout is on disk. Reads only. */
export async function pairLayout(p: PairPaths): Promise<PairLayout> {
  const want = linkTargets(p);
  const [cert, key] = await Promise.all([linkOf(p.certFile), linkOf(p.keyFile)]);
  if (cert === want.cert && key === want.key) return 'linked';
  return cert === undefined && key === undefined ? 'absent' : 'plain';
}

/**
 * The two files to read for one consistent look at the pair: in the linked layout, both inside the
 * version `current` points at right now (resolved once); otherwise certFile and keyFile themselves.
 */
export async function resolvePair(p: PairPaths, layout: PairLayout): Promise<{ cert: string; key: string }> {
  if (layout !== 'linked') return { cert: p.certFile, key: p.keyFile };
  try {
    const version = await realpath(join(p.store, CURRENT));
    return { cert: join(version, CERT), key: join(version, KEY) };
  } catch {
    return { cert: p.certFile, key: p.keyFile };
  }
}

/** Points `path` at `target` with one rename, whatever was there (a plain file, another link). */
async function switchLink(path: string, target: string): Promise<void> {
  if ((await linkOf(path)) !== target) await replaceAtomically(path, (tmp) => symlink(target, tmp));
}

const stamp = (): string => `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;

/** A new, complete, fsynced version folder; nothing points at it yet. A file given as undefined is left out. */
async function writeVersion(p: PairPaths, chainPem: string | undefined, keyPem: string | undefined): Promise<string> {
  await mkdir(p.store, { recursive: true, mode: 0o755 });
  const name = stamp();
  const dir = join(p.store, name);
  await mkdir(dir, { mode: 0o755 });
  if (keyPem !== undefined) await writeFileDurably(join(dir, KEY), keyPem, 0o600, 'wx');
  if (chainPem !== undefined) await writeFileDurably(join(dir, CERT), chainPem, 0o644, 'wx');
  await fsyncDir(dir);
  return name;
}

/** Removes versions other than the current and the previous one, and links left by a crash. */
async function prune(p: PairPaths, keep: readonly (string | undefined)[]): Promise<void> {
  for (const entry of await readdir(p.store)) {
    if (entry === CURRENT || keep.includes(entry)) continue;
    await rm(join(p.store, entry), { recursive: true, force: true });
  }
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Moves plain files at certFile/keyFile (an older agent's, certbot's) into the linked layout without
 * changing what a reader gets: the same bytes go into a version folder, `current` points at it, and
 * each file is replaced by its link with one rename. No reload is needed.
 */
export async function adoptPlainPair(p: PairPaths): Promise<void> {
  const [chain, key] = await Promise.all([readIfPresent(p.certFile), readIfPresent(p.keyFile)]);
  const version = await writeVersion(p, chain, key);
  await switchLink(join(p.store, CURRENT), version);
  const want = linkTargets(p);
  await switchLink(p.certFile, want.cert);
  await switchLink(p.keyFile, want.key);
}

/**
 * Puts a new key and chain in place as one unit: a fresh version folder (key 0600), then one rename
 * of `current`. The old pair stays in place, untouched, until that rename. Plain files from before
 * are adopted first, so the switch of certFile and keyFile to links never pairs a new key with an
 * old certificate.
 */
export async function writeCertificatePair(p: PairPaths, chainPem: string, keyPem: string): Promise<void> {
  await mkdir(dirname(p.certFile), { recursive: true, mode: 0o755 });
  const layout = await pairLayout(p);
  if (layout === 'plain') await adoptPlainPair(p);
  const previous = await readlink(join(p.store, CURRENT)).catch(() => undefined);
  const version = await writeVersion(p, chainPem.endsWith('\n') ? chainPem : chainPem + '\n', keyPem);
  await switchLink(join(p.store, CURRENT), version);
  const want = linkTargets(p);
  await switchLink(p.certFile, want.cert);
  await switchLink(p.keyFile, want.key);
  await prune(p, [version, previous]);
}
