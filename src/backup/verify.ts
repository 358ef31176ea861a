import { createHash } from 'node:crypto';
import { Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { listBackups, readManifest } from './catalog.js';
import type { BackupDestination } from './destination.js';
import { type BackupManifest, backupDir, type ManifestObject } from './backup-descriptor.js';

export interface ObjectCheck {
  name: string;
  ok: boolean;
  bytes: number;
  sha256: string;
  problem?: string;
}

export interface VerifyResult {
  id: string;
  ok: boolean;
  /** Problems with the backup as a whole (no manifest, listed objects missing). */
  problems: string[];
  objects: ObjectCheck[];
}

/** Passes bytes through while hashing them; fails the stream at its end if size or sha256 differ from the manifest. */
export class VerifyingStream extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;
  actualSha256 = '';

  constructor(private readonly expected: ManifestObject) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.actualSha256 = this.hash.digest('hex');
    if (this.bytes !== this.expected.bytes) return done(new Error(`${this.expected.name}: ${this.bytes} bytes read, manifest says ${this.expected.bytes}`));
    if (this.actualSha256 !== this.expected.sha256) return done(new Error(`${this.expected.name}: sha256 ${this.actualSha256} does not match the manifest's ${this.expected.sha256}`));
    done();
  }
}

/**
 * Re-reads every object of a backup and checks its size and sha256 against the manifest (and the
 * listing against the manifest); with `only`, just those objects. Never throws for a bad backup:
 * the result says what is wrong. Throws only when the destination cannot be read at all.
 */
export async function verifyBackup(dest: BackupDestination, prefix: string, name: string, id: string, only?: ReadonlySet<string>): Promise<VerifyResult> {
  const entry = (await listBackups(dest, prefix, name)).find((b) => b.id === id);
  if (!entry) return { id, ok: false, problems: [`backup ${id} does not exist`], objects: [] };
  if (!entry.complete) return { id, ok: false, problems: ['incomplete: no manifest.json (the run failed or is still running)'], objects: [] };
  let manifest: BackupManifest;
  try {
    manifest = await readManifest(dest, prefix, name, id);
  } catch (err) {
    return { id, ok: false, problems: [(err as Error).message], objects: [] };
  }
  const dir = backupDir(prefix, name, id);
  const listed = new Map(entry.objects.map((o) => [o.key.slice(dir.length), o.size]));
  const objects: ObjectCheck[] = [];
  for (const obj of manifest.objects.filter((o) => !only || only.has(o.name))) {
    const size = listed.get(obj.name);
    if (size === undefined) {
      objects.push({ name: obj.name, ok: false, bytes: 0, sha256: '', problem: 'missing from the destination' });
      continue;
    }
    const check = new VerifyingStream(obj);
    try {
      await pipeline(await dest.get(`${dir}${obj.name}`), check, discard());
      objects.push({ name: obj.name, ok: size === obj.bytes, bytes: check.bytes, sha256: check.actualSha256, ...(size !== obj.bytes ? { problem: `listed size ${size} differs from the manifest's ${obj.bytes}` } : {}) });
    } catch (err) {
      objects.push({ name: obj.name, ok: false, bytes: check.bytes, sha256: check.actualSha256, problem: (err as Error).message });
    }
  }
  return { id, ok: objects.every((o) => o.ok), problems: [], objects };
}

const discard = (): Writable =>
  new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });

