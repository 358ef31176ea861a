import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { joinKey } from './destination.js';

export const MANIFEST_NAME = 'manifest.json';
export const MANIFEST_FORMAT = 1;

/** 20261127T020000Z-1a2b: the UTC start time (sorts by time) plus a suffix so two runs in one second differ. */
const ID = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-[0-9a-f]{4,16}$/;

export function newBackupId(at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

/** The time an id encodes, or undefined for a name that is not a backup id (and so not the agent's). */
export function backupIdTime(id: string): Date | undefined {
  const m = ID.exec(id);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  const t = new Date(Date.UTC(y as number, (mo as number) - 1, d, h, mi, s));
  return Number.isNaN(t.getTime()) ? undefined : t;
}

/** `<prefix>/<backup name>/`: everything a Backup owns in its destination, and nothing else. */
export const backupRoot = (prefix: string, name: string): string => `${joinKey(prefix, name)}/`;
export const backupDir = (prefix: string, name: string, id: string): string => `${joinKey(prefix, name, id)}/`;

const sourceInfo = z.record(z.string(), z.unknown());

export const manifestObject = z.object({
  /** File name inside the backup's folder. */
  name: z.string().min(1),
  source: sourceInfo,
  /** Stored (possibly compressed) size and sha256: what verify re-reads. */
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Bytes the source produced before compression. */
  rawBytes: z.number().int().nonnegative(),
  /** gzip: gunzip before use; none: as produced (pg_dump's custom format compresses itself). */
  compression: z.enum(['gzip', 'none']),
  warnings: z.array(z.string()).default([]),
});
export type ManifestObject = z.output<typeof manifestObject>;

export const backupManifest = z.object({
  format: z.literal(MANIFEST_FORMAT),
  backup: z.string(),
  id: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  hostname: z.string(),
  agentVersion: z.string(),
  pgDumpVersion: z.string().optional(),
  trigger: z.string().optional(),
  objects: z.array(manifestObject),
});
export type BackupManifest = z.output<typeof backupManifest>;

export function parseManifest(text: string, where: string): BackupManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${where}: manifest is not JSON (${(err as Error).message})`);
  }
  const res = backupManifest.safeParse(raw);
  if (!res.success) throw new Error(`${where}: manifest is malformed: ${res.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
  return res.data;
}
