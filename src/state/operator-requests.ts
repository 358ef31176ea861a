import type { DurableState } from './durable-state.js';
import { DesiredState } from '../manifests/desired-state.js';
import type { Resource } from '../manifests/resource.js';

/** State section: resources an operator suspended (`certitrack-agent suspend`), by key. */
export const SUSPENDED_SECTION = 'suspended';
/** State section: the restart generation an operator asked for per Service (`certitrack-agent restart`). */
export const RESTART_SECTION = 'restartRequests';
/**
 * The container label a restart sets (kubectl rollout restart's `restartedAt` annotation): part of
 * the spec, so a new value rolls the service out like any other change (StartFirst where allowed).
 */
export const RESTARTED_AT_LABEL = 'io.certitrack.restarted-at';

export interface Suspension {
  at: string;
}

export interface RestartRequest {
  generation: number;
  at: string;
}

/** How a suspended key is held back: by the engine, or by the kind's own spec.suspend. */
export interface SuspendedKey {
  message: string;
  /** The kind honours spec.suspend (no runs, no retries, missed slots not owed): reconcile it with that set. */
  bySpec: boolean;
}

/** Kinds whose spec has `suspend`: their reconcilers already know what suspended means. */
const SPEC_SUSPEND_KINDS: ReadonlySet<string> = new Set(['Schedule', 'Backup']);

/**
 * What an operator asked of the running agent beyond the manifests, persisted in state.json so
 * it survives restarts: suspended resources (Flux's suspend: the agent stops acting on them) and
 * per-Service restart generations. Both are laid over each snapshot of the manifests without
 * changing its revision ({@link overlay}).
 */
export class OperatorRequests {
  constructor(
    private readonly state: DurableState,
    private readonly now: () => Date = () => new Date(),
  ) {}

  suspension(key: string): Suspension | undefined {
    return this.state.get<Suspension>(SUSPENDED_SECTION, key);
  }

  /** Idempotent: suspending a suspended resource keeps the time it was first suspended. */
  suspend(key: string): Suspension {
    const existing = this.suspension(key);
    if (existing) return existing;
    const s = { at: this.now().toISOString() };
    this.state.set(SUSPENDED_SECTION, key, s);
    return s;
  }

  /** Whether it was suspended. */
  resume(key: string): boolean {
    if (!this.suspension(key)) return false;
    this.state.delete(SUSPENDED_SECTION, key);
    return true;
  }

  restart(service: string): RestartRequest {
    const previous = this.state.get<RestartRequest>(RESTART_SECTION, service);
    const request = { generation: (previous?.generation ?? 0) + 1, at: this.now().toISOString() };
    this.state.set(RESTART_SECTION, service, request);
    return request;
  }

  /** Whether and how the engine must hold `key` back; Schedule and Backup declared in `desired` carry it in their spec. */
  suspended(key: string, desired: DesiredState): SuspendedKey | undefined {
    const s = this.suspension(key);
    if (!s) return undefined;
    const slash = key.indexOf('/');
    const kind = key.slice(0, slash);
    const declared = desired.get(kind as 'Service', key.slice(slash + 1)) !== undefined;
    return { message: `suspended at ${s.at} (certitrack-agent suspend); the agent does not act on it until certitrack-agent resume ${key}`, bySpec: declared && SPEC_SUSPEND_KINDS.has(kind) };
  }

  /**
   * The snapshot with the operator's requests in it, same revision: a restarted Service carries
   * its restart time as a label (a new spec hash, so a normal rollout), a suspended Schedule or
   * Backup `suspend: true`.
   */
  overlay(snapshot: DesiredState): DesiredState {
    let changed = false;
    const resources = snapshot.all().map((r): Resource => {
      if (r.kind === 'Service') {
        const restart = this.state.get<RestartRequest>(RESTART_SECTION, r.name);
        if (!restart) return r;
        changed = true;
        const spec = r.spec as { labels: Record<string, string> };
        return { ...r, spec: { ...spec, labels: { ...spec.labels, [RESTARTED_AT_LABEL]: restart.at } } };
      }
      if (SPEC_SUSPEND_KINDS.has(r.kind) && this.suspension(`${r.kind}/${r.name}`)) {
        changed = true;
        return { ...r, spec: { ...(r.spec as object), suspend: true } };
      }
      return r;
    });
    return changed ? new DesiredState(resources, snapshot.loadedAt, snapshot.origin, snapshot.revision) : snapshot;
  }
}
