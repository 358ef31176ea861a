import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isRunning, processStart } from './process-identity.js';

/** Who holds a Service still, and why: the agent does not heal it meanwhile. */
export interface ServiceHold {
  pid: number;
  processStart?: string;
  /** e.g. "restore of Backup/nightly 20261127T020000Z-1a2b3c". */
  reason: string;
  since: string;
}

/**
 * Services another process has stopped on purpose (a restore writing the volume they mount), one
 * file per Service under `<state-dir>/holds/`. The running agent reads them before healing a
 * Service, so it does not start the container again halfway through the restore. A hold whose
 * process is gone (crashed, killed) no longer holds: the agent then heals as usual.
 */
export class ServiceHolds {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'holds');
  }

  /** Holds `services` until the returned release is called (idempotent). */
  async hold(services: readonly string[], reason: string): Promise<() => Promise<void>> {
    if (services.length === 0) return async () => undefined;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const hold: ServiceHold = { pid: process.pid, reason, since: new Date().toISOString(), ...(processStart(process.pid) ? { processStart: processStart(process.pid) as string } : {}) };
    const files = services.map((s) => this.fileOf(s));
    for (const f of files) await writeFile(f, `${JSON.stringify(hold)}\n`, { mode: 0o600 });
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      for (const f of files) await rm(f, { force: true });
    };
  }

  /** The live hold on `service`, or undefined (none, or its process is gone). Reads only. */
  heldBy(service: string): ServiceHold | undefined {
    try {
      const hold = JSON.parse(readFileSync(this.fileOf(service), 'utf8')) as ServiceHold;
      return typeof hold.pid === 'number' && isRunning(hold) ? hold : undefined;
    } catch {
      return undefined;
    }
  }

  private fileOf(service: string): string {
    return join(this.dir, `${service.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  }
}
