import { scrubDeep } from '../log.js';
import type { DurableState } from './durable-state.js';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface ResourceStatus {
  kind: string;
  name: string;
  conditions: Condition[];
  /** Kind-specific facts: container id, restarts, next run, certificate serial… never secrets. */
  details: Record<string, unknown>;
  lastError?: { message: string; time: string };
  updatedAt: string;
}

/**
 * The observed status of every resource, as /status and `certitrack-agent status` show it.
 * Messages and details pass through `redact` so a secret that found its way into an error or a
 * job's output never leaves.
 */
export class StatusBoard {
  private readonly items = new Map<string, ResourceStatus>();
  private redact: (text: string) => string = (t) => t;

  constructor(
    private readonly state: DurableState | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {
    for (const [key, value] of state?.entries<ResourceStatus>('status') ?? []) this.items.set(key, value);
  }

  setRedactor(redact: (text: string) => string): void {
    this.redact = redact;
  }

  get(key: string): ResourceStatus | undefined {
    return this.items.get(key);
  }

  all(): ResourceStatus[] {
    return [...this.items.values()].sort((a, b) => (a.kind + a.name < b.kind + b.name ? -1 : 1));
  }

  /** Sets one condition; lastTransitionTime moves only when the status flips (Kubernetes semantics). */
  setCondition(key: string, type: string, status: Condition['status'], reason: string, message = ''): void {
    const item = this.ensure(key);
    const at = this.now().toISOString();
    const existing = item.conditions.find((c) => c.type === type);
    const msg = this.redact(message);
    if (existing) {
      if (existing.status !== status) existing.lastTransitionTime = at;
      existing.status = status;
      existing.reason = reason;
      existing.message = msg;
    } else {
      item.conditions.push({ type, status, reason, message: msg, lastTransitionTime: at });
    }
    this.touch(key, item);
  }

  /** Drops a condition that no longer applies (Suspended after `resume`). */
  clearCondition(key: string, type: string): void {
    const item = this.items.get(key);
    if (!item || !item.conditions.some((c) => c.type === type)) return;
    item.conditions = item.conditions.filter((c) => c.type !== type);
    this.touch(key, item);
  }

  setDetails(key: string, details: Record<string, unknown>): void {
    const item = this.ensure(key);
    Object.assign(item.details, scrubDeep(details, this.redact));
    this.touch(key, item);
  }

  setError(key: string, error: Error | undefined): void {
    const item = this.ensure(key);
    if (error) item.lastError = { message: this.redact(error.message), time: this.now().toISOString() };
    else delete item.lastError;
    this.touch(key, item);
  }

  isTrue(key: string, type: string): boolean {
    return this.items.get(key)?.conditions.find((c) => c.type === type)?.status === 'True';
  }

  remove(key: string): void {
    this.items.delete(key);
    this.state?.delete('status', key);
  }

  private ensure(key: string): ResourceStatus {
    let item = this.items.get(key);
    if (!item) {
      const slash = key.indexOf('/');
      item = { kind: key.slice(0, slash), name: key.slice(slash + 1), conditions: [], details: {}, updatedAt: this.now().toISOString() };
      this.items.set(key, item);
    }
    return item;
  }

  private touch(key: string, item: ResourceStatus): void {
    item.updatedAt = this.now().toISOString();
    this.state?.set('status', key, item);
  }
}
