import type { BackupListing } from '../backup/backup-catalog.js';
import type { RestoreResult, VerifyResult } from '../backup/restore.js';
import type { RestoreProgress } from '../server/backup-routes.js';
import type { AgentClient } from './agent-client.js';
import type { BackupTools } from './backup-commands.js';

const path = (name: string, ...rest: string[]): string => ['/v1/backups', name, ...rest].map((p, i) => (i === 0 ? p : encodeURIComponent(p))).join('/');

/**
 * The running agent's backup catalog, over its API (src/server/backup-routes.ts): the same
 * methods as the catalog the CLI builds when no agent runs, so every backup command is written once.
 */
export class AgentBackups implements BackupTools {
  constructor(private readonly client: AgentClient) {}

  async list(name: string): Promise<BackupListing> {
    const listing = await this.client.getJson<BackupListing>(path(name), 60_000);
    // Dates travel as ISO strings.
    return { ...listing, backups: listing.backups.map((b) => ({ ...b, time: new Date(b.time), objects: b.objects.map((o) => ({ ...o, lastModified: new Date(o.lastModified) })) })) };
  }

  async verify(name: string, id?: string): Promise<VerifyResult> {
    return (await this.client.postJson(id === undefined ? path(name, 'verify') : path(name, 'verify', id))) as unknown as VerifyResult;
  }

  async restore(name: string, id: string, onObject?: (name: string, phase: 'start' | 'done', bytes?: number) => void): Promise<RestoreResult> {
    const progress = (p: unknown): void => {
      const { object, phase, bytes } = p as RestoreProgress;
      onObject?.(object, phase, bytes);
    };
    return (await this.client.postStreaming(path(name, 'restore', id), progress)) as RestoreResult;
  }
}
