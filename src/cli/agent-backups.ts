import type { BackupListing } from '../backup/backup-catalog.js';
import { RestoreFailedError, type RestoreFailure, type RestorePreview, type RestoreProgress, type RestoreResult } from '../backup/restore.js';
import type { VerifyResult } from '../backup/verify.js';
import type { AgentClient } from './agent-client.js';
import type { BackupTools } from './backup-commands.js';

const path = (name: string, ...rest: string[]): string => ['/v1/backups', name, ...rest].map((p, i) => (i === 0 ? p : encodeURIComponent(p))).join('/');
const onlyQuery = (only: readonly string[] | undefined): string => (only && only.length > 0 ? `?${only.map((o) => `only=${encodeURIComponent(o)}`).join('&')}` : '');

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

  async previewRestore(name: string, id: string, only?: readonly string[]): Promise<RestorePreview> {
    return (await this.client.postJson(path(name, 'restore', id, 'preview') + onlyQuery(only))) as unknown as RestorePreview;
  }

  async restore(name: string, id: string, opts: { only?: readonly string[]; onProgress?: (p: RestoreProgress) => void } = {}): Promise<RestoreResult> {
    try {
      return (await this.client.postStreaming(path(name, 'restore', id) + onlyQuery(opts.only), (p) => opts.onProgress?.(p as RestoreProgress))) as RestoreResult;
    } catch (err) {
      // A restore that failed part way says what it restored: the same error the catalog throws here.
      const details = (err as { details?: RestoreFailure }).details;
      throw details?.failed ? RestoreFailedError.from(details) : err;
    }
  }
}
