import type { Logger } from 'pino';
import { type Ec2Snapshots, TAG_BACKUP, TAG_INSTANCE } from '../adapters/ec2-snapshots.js';
import { resourceKey } from '../engine/reconcile.js';
import type { DesiredState } from '../manifests/desired-state.js';
import type { BackupSpec } from '../manifests/kinds/backup.js';
import type { Resource } from '../manifests/resource.js';
import { isSnapshotBackup, retentionPolicyOf } from './backup-spec.js';
import { type BackupEntry, listBackups } from './catalog.js';
import type { DestinationFactory } from './destination-factory.js';
import { groupSnapshots } from './ebs-snapshots.js';
import { previewRestore, restoreBackup, type RestoreOptions, type RestorePreview, type RestoreProgress, type RestoreResult } from './restore.js';
import { applyRetention, type RetentionDecision, type RetentionPolicy } from './retention.js';
import { mayStillRun, type RunFacts } from './run-state.js';
import type { ServiceHolds } from '../state/service-holds.js';
import { verifyBackup, type VerifyResult } from './verify.js';
import { type SourceDeps, sourceContextFor } from './sources.js';
import { requireSnapshots } from './snapshot-job.js';

const KIND = 'Backup';

/**
 * What retention would do to a backup now: keep or remove it, clean up an incomplete one whose run
 * has ended, leave a run in progress alone, or flag one dated in the future (neither kept nor removed).
 */
export type BackupVerdict = 'keep' | 'remove' | 'cleanup' | 'running' | 'future' | 'pending';

/** A row of `backup list`: a backup and what the retention policy would do with it now. */
export interface BackupListing {
  destination: string;
  backups: (BackupEntry & { verdict: BackupVerdict; reasons: string[] })[];
}

export interface BackupCatalogDeps {
  /** The declared Backups: the running agent's snapshot, or the folder the CLI loaded. */
  desired: () => DesiredState;
  destinations: DestinationFactory;
  sources: SourceDeps;
  /** The agent instance, which EBS snapshots are tagged with. */
  instance: string;
  /** Only for Backups with an ebsSnapshot source. */
  snapshots?: Ec2Snapshots;
  /** Whether a backup of `key` is running in this process: restore waits for it to end. */
  isRunning?: (key: string) => boolean;
  /** What is known of a Backup's runs (the agent's history, or its state file read by the CLI). */
  runs?: (key: string) => RunFacts;
  /** Where a restore tells the agent which Services it has stopped. */
  holds?: ServiceHolds;
  scrub: (text: string) => string;
  now: () => Date;
  log: Logger;
}

/**
 * What backups a declared Backup has, and reading them back: `backup list`, `backup verify` and
 * `restore`. The CLI and the agent build it the same way (main.ts); every method takes and returns
 * plain data, so it can be served over the agent's API as it is.
 */
export class BackupCatalog {
  constructor(private readonly deps: BackupCatalogDeps) {}

  /** The Backup's backups, newest first, with what retention would do to each now. */
  async list(name: string): Promise<BackupListing> {
    const res = this.declared(name);
    const policy = retentionPolicyOf(res.spec);
    if (isSnapshotBackup(res.spec)) return this.listSnapshots(res, policy);
    const { destination, prefix } = this.deps.destinations(res);
    const entries = await listBackups(destination, prefix, name);
    const now = this.deps.now();
    const runs = this.deps.runs?.(resourceKey(KIND, name)) ?? { running: new Set<string>(), finished: new Set<string>() };
    const running = (e: BackupEntry): boolean => mayStillRun(e, runs, now, res.spec.timeout);
    return { destination: `${destination.description}${prefix ? `/${prefix}` : ''}`, backups: withVerdicts(entries, policy, res.spec.timeZone, now, new Set(), running) };
  }

  /** Re-reads a backup (the newest complete one when `id` is omitted) and checks every object's size and sha256. */
  async verify(name: string, id?: string): Promise<VerifyResult> {
    const res = this.declared(name);
    if (isSnapshotBackup(res.spec)) throw new Error(`${KIND}/${name} takes EBS snapshots; EC2 checks those itself`);
    const { destination, prefix } = this.deps.destinations(res);
    const target = id ?? (await listBackups(destination, prefix, name)).find((b) => b.complete)?.id;
    if (!target) throw new Error(`${KIND}/${name} has no complete backup to verify`);
    return verifyBackup(destination, prefix, name, target);
  }

  /** What `restore` would do (targets, Services it stops), after the checks that need no reading of the objects. */
  async previewRestore(name: string, id: string, only?: readonly string[]): Promise<RestorePreview> {
    return this.scrubbed(() => previewRestore(this.restoreOptions(name, id, only)));
  }

  /**
   * Restores backup `id` (or the sources in `only`) over the live database, directories, volumes
   * and files the spec declares, after verifying it: see restoreBackup.
   */
  async restore(name: string, id: string, opts: { only?: readonly string[]; onProgress?: (p: RestoreProgress) => void } = {}): Promise<RestoreResult> {
    const key = resourceKey(KIND, name);
    const options = this.restoreOptions(name, id, opts.only);
    if (this.deps.isRunning?.(key)) throw new Error(`${key} is running a backup now; restore when it has finished`);
    return this.scrubbed(() => restoreBackup({ ...options, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) }));
  }

  private restoreOptions(name: string, id: string, only?: readonly string[]): RestoreOptions {
    const res = this.declared(name);
    if (isSnapshotBackup(res.spec)) throw new Error(`${KIND}/${name} takes EBS snapshots: restore one by creating a volume from it in EC2`);
    const { destination, prefix } = this.deps.destinations(res);
    const sources = this.deps.sources;
    return {
      dest: destination,
      prefix,
      name,
      id,
      spec: res.spec,
      ctx: sourceContextFor(sources, res, this.deps.log),
      ...(only?.length ? { only } : {}),
      now: this.deps.now(),
      services: { containers: sources.docker.containers, own: sources.own, ...(this.deps.holds ? { holds: this.deps.holds } : {}) },
    };
  }

  /** Errors leave here without secret values (a database password in a tool's output). */
  private async scrubbed<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      (err as Error).message = this.deps.scrub((err as Error).message);
      throw err;
    }
  }

  private async listSnapshots(res: Resource<BackupSpec>, policy: RetentionPolicy): Promise<BackupListing> {
    const ec2 = requireSnapshots(this.deps.snapshots);
    const groups = groupSnapshots(await ec2.list({ [TAG_BACKUP]: res.name, [TAG_INSTANCE]: this.deps.instance }));
    const entries: BackupEntry[] = groups.map((g) => ({
      id: g.id,
      time: g.time,
      complete: g.state === 'complete',
      objects: g.snapshots.map((s) => ({ key: `${s.id} (${s.volumeId}, ${s.state})`, size: 0, lastModified: s.startTime })),
      bytes: 0,
    }));
    const pending = new Set(groups.filter((g) => g.state === 'pending').map((g) => g.id));
    return { destination: `EC2 snapshots of ${ec2.instance.instanceId}`, backups: withVerdicts(entries, policy, res.spec.timeZone, this.deps.now(), pending) };
  }

  private declared(name: string): Resource<BackupSpec> {
    const res = this.deps.desired().get(KIND, name);
    if (!res) throw new Error(`${KIND}/${name} is not declared in the manifests`);
    return res;
  }
}

function withVerdicts(
  entries: BackupEntry[],
  policy: RetentionPolicy,
  timeZone: string,
  now: Date,
  pending: Set<string>,
  mayBeRunning?: (e: BackupEntry) => boolean,
): BackupListing['backups'] {
  const byId = new Map(entries.map((e) => [e.id, e]));
  const running = (id: string): boolean => mayBeRunning?.(byId.get(id) as BackupEntry) ?? false;
  const d = applyRetention(entries.filter((e) => !pending.has(e.id)), policy, { timeZone, now, ...(mayBeRunning ? { mayBeRunning: (c) => running(c.id) } : {}) });
  const find = (list: RetentionDecision[], id: string): RetentionDecision | undefined => list.find((x) => x.id === id);
  return entries.map((e) => {
    if (pending.has(e.id)) return { ...e, verdict: 'pending' as const, reasons: [] };
    const keep = find(d.keep, e.id);
    if (keep) return { ...e, verdict: 'keep' as const, reasons: keep.reasons };
    if (find(d.remove, e.id)) return { ...e, verdict: 'remove' as const, reasons: [] };
    if (find(d.cleanup, e.id)) return { ...e, verdict: 'cleanup' as const, reasons: ['incomplete: its run ended without finishing it; the next successful run removes it'] };
    if (find(d.future, e.id)) return { ...e, verdict: 'future' as const, reasons: ['dated in the future: not counted, not deleted, refused by restore; check the clock or remove it'] };
    if (!e.complete) return { ...e, verdict: 'running' as const, reasons: ['in progress: its run has not ended'] };
    return { ...e, verdict: 'pending' as const, reasons: [] };
  });
}
