import type { Readable } from 'node:stream';
import type { BackupDestination, StoredObject } from './destination.js';
import { type BackupManifest, backupIdTime, backupRoot, MANIFEST_NAME, parseManifest } from './backup-descriptor.js';

export interface BackupEntry {
  id: string;
  time: Date;
  /** manifest.json exists: the backup finished. Without it a backup never counts as good. */
  complete: boolean;
  objects: StoredObject[];
  /** Sum of the stored objects' sizes. */
  bytes: number;
}

/**
 * The backups of one Backup resource, newest first, from a full listing of its own prefix. Keys
 * that are not `<root><id>/<file>` with a well-formed id are not the agent's and are ignored, so
 * nothing else under the prefix can ever be selected for deletion. A failed listing throws
 * (ListingError): callers must not act on a partial picture.
 */
export async function listBackups(dest: BackupDestination, prefix: string, name: string): Promise<BackupEntry[]> {
  const root = backupRoot(prefix, name);
  const objects = await dest.list(root);
  const byId = new Map<string, BackupEntry>();
  for (const o of objects) {
    const rest = o.key.slice(root.length);
    const slash = rest.indexOf('/');
    if (slash <= 0 || rest.indexOf('/', slash + 1) >= 0) continue;
    const id = rest.slice(0, slash);
    const time = backupIdTime(id);
    if (!time) continue;
    let e = byId.get(id);
    if (!e) byId.set(id, (e = { id, time, complete: false, objects: [], bytes: 0 }));
    e.objects.push(o);
    e.bytes += o.size;
    if (rest.slice(slash + 1) === MANIFEST_NAME) e.complete = true;
  }
  return [...byId.values()].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1));
}

export async function readText(stream: Readable, limit = 16 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw new Error(`larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function readManifest(dest: BackupDestination, prefix: string, name: string, id: string): Promise<BackupManifest> {
  const key = `${backupRoot(prefix, name)}${id}/${MANIFEST_NAME}`;
  const text = await readText(await dest.get(key));
  const manifest = parseManifest(text, key);
  if (manifest.id !== id || manifest.backup !== name) throw new Error(`${key}: manifest names ${manifest.backup}/${manifest.id}`);
  return manifest;
}
