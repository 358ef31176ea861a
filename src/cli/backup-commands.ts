import { createInterface } from 'node:readline/promises';
import type { Readable, Writable } from 'node:stream';
import type { BackupProgress } from '../backup/run-backup.js';
import type { BackupCatalog, BackupListing } from '../backup/backup-catalog.js';
import { RestoreFailedError, type RestoredObject, type RestoreProgress } from '../backup/restore.js';
import type { ManualRunResult } from '../reconcilers/backup/backup-reconciler.js';
import { formatDuration } from '../util/duration.js';
import { formatTable, tableFor } from './table.js';
import { statusColour, type TextView } from './terminal.js';

/** What the backup tools need of a catalog: the agent's own over its API, or one built here (main.ts). */
export type BackupTools = Pick<BackupCatalog, 'list' | 'verify' | 'previewRestore' | 'restore'>;

/** The CLI's side of backups: each function prints to `out` and returns the process exit code. */

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** Writes progress lines: on a terminal one line rewritten in place, else one line every few seconds. */
function throttledLines<P>(out: Writable & { isTTY?: boolean }, start: number, line: (p: P, secs: number) => string): (p: P) => void {
  let lastLine = 0;
  return (p) => {
    const now = Date.now();
    if (!out.isTTY && now - lastLine < 5000) return;
    lastLine = now;
    const text = line(p, Math.max(0.001, (now - start) / 1000));
    out.write(out.isTTY ? `\r\x1b[2K${text}` : `${text}\n`);
  };
}

/** Backup progress with bytes and rate. */
export function progressPrinter(out: Writable & { isTTY?: boolean }, start = Date.now()): (p: BackupProgress) => void {
  return throttledLines<BackupProgress>(out, start, (p, secs) => {
    const stored = p.doneBytes + p.storedBytes;
    return `[${p.index}/${p.sources}] ${p.object}: read ${formatBytes(p.rawBytes)}, stored ${formatBytes(stored)} total, ${formatBytes(stored / secs)}/s`;
  });
}

/** Restore progress with bytes and rate, as for backups. */
export function restoreProgressPrinter(out: Writable & { isTTY?: boolean }, start = Date.now()): (p: RestoreProgress) => void {
  return throttledLines<RestoreProgress>(out, start, (p, secs) => {
    const read = p.doneBytes + p.readBytes;
    return `[${p.index}/${p.objects}] ${p.object}: restored ${formatBytes(read)} of ${formatBytes(p.totalBytes)}, ${formatBytes(read / secs)}/s`;
  });
}

/**
 * `backup run NAME`: runs the backup now and waits, with progress. `run` is the running agent's
 * trigger (so the run shares its concurrency policy and history) or, in tests, the reconciler's runNow.
 */
export async function backupRunCommand(
  run: (onProgress: (p: BackupProgress) => void) => Promise<ManualRunResult>,
  name: string,
  out: Writable & { isTTY?: boolean },
  progressOut: Writable & { isTTY?: boolean } = out,
): Promise<number> {
  const start = Date.now();
  const { record, outcome } = await run(progressPrinter(progressOut, start));
  if (progressOut.isTTY) progressOut.write('\n');
  if (!record.succeeded) {
    out.write(`backup ${name} FAILED after ${formatDuration(Date.now() - start)}: ${record.outputTail.trim()}\n`);
    return 1;
  }
  if (outcome) {
    const secs = Math.max(0.001, outcome.durationMs / 1000);
    out.write(
      formatTable(
        ['OBJECT', 'SOURCE', 'READ', 'STORED', 'SHA256'],
        outcome.manifest.objects.map((o) => [o.name, String(o.source.type), formatBytes(o.rawBytes), formatBytes(o.bytes), o.sha256.slice(0, 16)]),
      ),
    );
    out.write(`backup ${outcome.id} complete: ${formatBytes(outcome.bytes)} in ${formatDuration(outcome.durationMs)} (${formatBytes(outcome.bytes / secs)}/s)\n`);
  }
  const retention = record.outputTail.split('\n').find((l) => l.startsWith('retention'));
  if (retention) out.write(`${retention}\n`);
  else if (!outcome) out.write(`${record.outputTail.trim()}\n`);
  return 0;
}

/** `backup list NAME` as text: the destination, then every backup newest first with what retention would do to it now. */
export function renderBackupList(listing: BackupListing, view: TextView = { width: undefined, color: false }): string {
  const head = `destination: ${listing.destination}\n`;
  if (listing.backups.length === 0) return `${head}no backups yet\n`;
  return (
    head +
    formatTable(
      ['ID', 'CREATED', 'STATUS', 'SIZE', 'OBJECTS', 'RETENTION'],
      listing.backups.map((b) => [
        b.id,
        new Date(b.time).toISOString(),
        b.complete ? 'complete' : 'incomplete',
        b.bytes ? formatBytes(b.bytes) : '',
        b.objects.length,
        `${b.verdict}${b.reasons.length ? ` (${b.reasons.join(', ')})` : ''}`,
      ]),
      tableFor(view, (header, text) => (header === 'STATUS' || header === 'RETENTION' ? statusColour(text.split(' ')[0] ?? '') : undefined)),
    )
  );
}

/** `backup list NAME` in text: the listing, printed. */
export async function backupListCommand(catalog: BackupTools, name: string, out: Writable): Promise<number> {
  out.write(renderBackupList(await catalog.list(name)));
  return 0;
}

/** `backup verify NAME [ID]`: re-reads every object and checks sizes and sha256; exit 1 if anything is wrong. */
export async function backupVerifyCommand(catalog: BackupTools, name: string, id: string | undefined, out: Writable): Promise<number> {
  const res = await catalog.verify(name, id);
  for (const p of res.problems) out.write(`${res.id}: ${p}\n`);
  if (res.objects.length > 0) {
    out.write(formatTable(['OBJECT', 'SIZE', 'SHA256', 'RESULT'], res.objects.map((o) => [o.name, formatBytes(o.bytes), o.sha256.slice(0, 16), o.ok ? 'ok' : `FAILED: ${o.problem ?? ''}`])));
  }
  out.write(`backup ${res.id}: ${res.ok ? 'verified' : 'VERIFICATION FAILED'}\n`);
  return res.ok ? 0 : 1;
}

/** Asks a yes/no question on a terminal; anything but y/yes is no. */
export async function askYesNo(question: string, input: Readable, output: Writable): Promise<boolean> {
  const rl = createInterface({ input, output });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/**
 * `restore NAME ID [--only SOURCE]… [--yes]`: overwrites the live database, directories, volumes
 * and files with the backup. Without --yes it asks first, naming every target and the Services it
 * stops meanwhile (and refuses when there is no one to ask). A restore that fails part way lists
 * what was restored and what was not.
 */
export async function restoreCommand(
  catalog: BackupTools,
  name: string,
  id: string,
  out: Writable & { isTTY?: boolean },
  opts: { yes: boolean; only?: readonly string[]; confirm?: (question: string) => Promise<boolean>; progressOut?: Writable & { isTTY?: boolean } },
): Promise<number> {
  const preview = await catalog.previewRestore(name, id, opts.only);
  if (!opts.yes) {
    const lines = preview.items.map((it) => `  ${it.name} -> ${it.target}${it.stops.length ? ` (stops and restarts Service ${it.stops.join(', ')} meanwhile)` : ''}`);
    const question = `Restore backup ${id} of ${name}? This overwrites:\n${lines.join('\n')}\n`;
    if (!opts.confirm) {
      out.write(`${question}refusing without confirmation: pass --yes\n`);
      return 1;
    }
    if (!(await opts.confirm(question))) {
      out.write('restore cancelled\n');
      return 1;
    }
  }
  const start = Date.now();
  const progressOut = opts.progressOut ?? out;
  try {
    const res = await catalog.restore(name, id, { ...(opts.only ? { only: opts.only } : {}), onProgress: restoreProgressPrinter(progressOut, start) });
    if (progressOut.isTTY) progressOut.write('\n');
    out.write(restoredTable(res.restored));
    const bytes = res.restored.reduce((n, r) => n + r.bytes, 0);
    out.write(`backup ${id} restored in ${formatDuration(Date.now() - start)} (${formatBytes(bytes / Math.max(0.001, (Date.now() - start) / 1000))}/s)\n`);
    return 0;
  } catch (err) {
    if (progressOut.isTTY) progressOut.write('\n');
    if (!(err instanceof RestoreFailedError)) throw err;
    if (err.restored.length > 0) out.write(restoredTable(err.restored));
    out.write(`RESTORE FAILED at ${err.failed.name} (${err.failed.target}): ${err.failed.error}\n`);
    out.write(`restored: ${err.restored.map((r) => r.name).join(', ') || 'nothing'}\n`);
    out.write(`not restored: ${[err.failed, ...err.notRestored].map((r) => `${r.name} (${r.target})`).join(', ')}\n`);
    return 1;
  }
}

function restoredTable(rows: readonly RestoredObject[]): string {
  return formatTable(['OBJECT', 'RESTORED INTO', 'SIZE', 'RESTARTED'], rows.map((r) => [r.name, r.target, formatBytes(r.bytes), r.restarted.join(', ')]));
}
