import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import type { BackupDestination } from './destination.js';
import { type BackupManifest, backupDir, MANIFEST_FORMAT, MANIFEST_NAME, type ManifestObject, newBackupId } from './backup-descriptor.js';
import { BackupStepError, type StreamProgress, streamToDestination } from './pipeline.js';
import type { PreparedSource } from './sources.js';

export interface BackupProgress extends StreamProgress {
  /** The object being written now. */
  object: string;
  /** 1-based index of the source being streamed, out of `sources`. */
  index: number;
  sources: number;
  /** Stored bytes of the objects already finished. */
  doneBytes: number;
}

export interface RunBackupOptions {
  name: string;
  prefix: string;
  destination: BackupDestination;
  sources: readonly PreparedSource[];
  agentVersion: string;
  now: () => Date;
  signal: AbortSignal;
  trigger?: string;
  /** The backup's id: the id of the run that makes it (one id in the log, the history and the destination); a new one when omitted. */
  id?: string;
  onProgress?: (p: BackupProgress) => void;
}

export interface BackupOutcome {
  id: string;
  manifest: BackupManifest;
  /** Stored bytes, manifest excluded. */
  bytes: number;
  durationMs: number;
}

/** A failed backup: the step and message of its error, and what became of the objects it had written. */
export class BackupRunError extends BackupStepError {
  constructor(
    cause: BackupStepError,
    readonly id: string,
    /** Why the objects already written could not be removed (then the next successful run removes them). */
    readonly leftBehind?: string,
  ) {
    super(cause.step, `${cause.message.replace(/^\w+ failed: /, '')}${leftBehind ? ` (its partial objects could not be removed: ${leftBehind}; the next successful run removes them)` : ''}`, { cause });
  }
}

/**
 * One backup: every source streamed to `<prefix>/<name>/<id>/<object>` in turn, then manifest.json
 * written LAST, so a backup without one never counts as good. A run that fails removes what it had
 * written before it reports (if the destination lets it; otherwise the next successful run's
 * retention does), so a failed run leaves nothing behind in `backup list`. Errors are
 * BackupRunErrors naming the step: dump (the source side), upload (the destination) or manifest.
 */
export async function runBackup(opts: RunBackupOptions): Promise<BackupOutcome> {
  const started = opts.now();
  const id = opts.id ?? newBackupId(started);
  try {
    return await writeBackup(opts, id, started);
  } catch (err) {
    const e = err instanceof BackupStepError ? err : new BackupStepError('dump', (err as Error).message, { cause: err });
    const leftBehind = await removeBackup(opts.destination, backupDir(opts.prefix, opts.name, id)).catch((why: unknown) => (why as Error).message);
    throw new BackupRunError(e, id, leftBehind);
  }
}

/** Deletes every object under a failed backup's folder (only that folder: its id is this run's). */
async function removeBackup(dest: BackupDestination, dir: string): Promise<undefined> {
  const keys = (await dest.list(dir)).map((o) => o.key).filter((k) => k.startsWith(dir));
  if (keys.length > 0) await dest.delete(keys);
  return undefined;
}

async function writeBackup(opts: RunBackupOptions, id: string, started: Date): Promise<BackupOutcome> {
  const dir = backupDir(opts.prefix, opts.name, id);
  const objects: ManifestObject[] = [];
  let doneBytes = 0;
  let pgDumpVersion: string | undefined;

  for (const [i, src] of opts.sources.entries()) {
    const res = await streamToDestination({
      produce: src.produce,
      destination: opts.destination,
      key: `${dir}${src.name}`,
      ...(src.gzipLevel !== undefined ? { gzipLevel: src.gzipLevel } : {}),
      contentType: src.contentType,
      signal: opts.signal,
      onProgress: (p) => opts.onProgress?.({ ...p, object: src.name, index: i + 1, sources: opts.sources.length, doneBytes }),
    }).catch((err: unknown) => {
      const e = err as BackupStepError;
      throw new BackupStepError(e.step ?? 'dump', `${src.name}: ${e.message.replace(/^(dump|upload) failed: /, '')}`, { cause: err });
    });
    doneBytes += res.bytes;
    pgDumpVersion ??= src.toolVersion?.();
    objects.push({
      name: src.name,
      source: src.info,
      bytes: res.bytes,
      sha256: res.sha256,
      rawBytes: res.rawBytes,
      compression: src.compression,
      warnings: [...src.warnings],
    });
  }

  const finished = opts.now();
  const manifest: BackupManifest = {
    format: MANIFEST_FORMAT,
    backup: opts.name,
    id,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    hostname: hostname(),
    agentVersion: opts.agentVersion,
    ...(pgDumpVersion ? { pgDumpVersion } : {}),
    ...(opts.trigger ? { trigger: opts.trigger } : {}),
    objects,
  };
  try {
    await opts.destination.put(`${dir}${MANIFEST_NAME}`, Readable.from([Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)]), {
      contentType: 'application/json',
      signal: opts.signal,
    });
  } catch (err) {
    throw new BackupStepError('manifest', `${MANIFEST_NAME}: ${(err as Error).message}`, { cause: err });
  }
  return { id, manifest, bytes: doneBytes, durationMs: finished.getTime() - started.getTime() };
}
