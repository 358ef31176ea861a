import type { Logger } from 'pino';
import type { DesiredState } from '../manifests/desired-state.js';
import type { KindName, SpecOf } from '../manifests/kinds/index.js';
import type { Resource } from '../manifests/resource.js';
import type { StatusBoard } from '../state/status-board.js';

/**
 * The reconcile contract every kind implements, in three steps the engine composes:
 *
 *   observe(name)              reads reality (Docker, files, AWS, the state file); no effects
 *   plan(desired, observed, t) pure: the actions that converge them; no I/O, no clock, no env
 *   apply(actions, ctx)        performs them through adapters, reports status
 *
 * `certitrack-agent plan` is observe + plan for every key and nothing else, so what it prints is what
 * apply would do. Apply throwing means "retry with per-key backoff" (controller-runtime's contract);
 * throwing a {@link TerminalError} means "don't retry until something changes".
 */
export interface Reconciler<K extends KindName = KindName, O = unknown, A extends KindAction = KindAction> {
  readonly kind: K;
  /** Longest a reconcile of this kind may take before the engine gives up on it (default 2 min). */
  readonly timeoutMs?: number;
  /** Names of resources of this kind that exist in reality and were created by this agent (for pruning). */
  listOwned(): Promise<string[]>;
  observe(name: string, ctx: ObserveContext): Promise<O>;
  /** `desired` is undefined when no manifest declares `name` any more. */
  plan(desired: Resource<SpecOf<K>> | undefined, observed: O, now: Date): A[];
  apply(actions: readonly A[], ctx: ApplyContext<O>): Promise<ReconcileResult>;
  /**
   * Which keys an event concerns (controller-runtime's Watches with a map function): a container of
   * a service changed, a job finished. The engine enqueues what this returns; main.ts only wires.
   */
  mapEvent?(event: AgentEvent, desired: DesiredState): string[];
}

/**
 * What every reconciler step may look at. The snapshot is immutable; the logger already carries the
 * resource key and a reconcile id.
 */
export interface ObserveContext {
  readonly desired: DesiredState;
  readonly log: Logger;
  /** Aborted when the agent shuts down or the reconcile times out; long calls pass it on. */
  readonly signal: AbortSignal;
}

export interface ApplyContext<O = unknown> extends ObserveContext {
  readonly name: string;
  readonly key: string;
  /** What observe saw, for status reporting and for the facts the actions do not carry. */
  readonly observed: O;
  readonly status: StatusBoard;
  readonly now: () => Date;
}

/** What a reconcile asks of the engine once it returns normally. */
export interface ReconcileResult {
  /** Look at this key again after this many milliseconds (waiting on a dependency, a schedule, a renewal). */
  requeueAfterMs?: number;
  /** Not converged yet (waiting on a dependency or a backoff): the revision is not "applied" until it is. */
  pending?: boolean;
}

/** An error that retrying cannot fix (a bad spec the schema could not catch, a missing image with pullPolicy Never). */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
}

/**
 * What an action does, in terraform's and kubectl's words. `wait` will happen too (it holds the
 * resource back); `note` is information only (nothing happens) and is not counted as a change.
 */
export type ActionVerb = 'create' | 'recreate' | 'update' | 'start' | 'restart' | 'remove' | 'build' | 'pull' | 'reload' | 'run' | 'issue' | 'wait' | 'note';

/** One field an update or recreate changes, as `terraform plan` shows it. */
export interface FieldChange {
  /** Where in the manifest, e.g. `spec.env.MODE`. */
  readonly path: string;
  /** JSON text of the old and new value; absent when the field was or becomes unset. Never a secret's value. */
  readonly from?: string;
  readonly to?: string;
  /** The value is a secret: shown as "(secret changed)", with neither value. */
  readonly secret?: true;
}

/** The part of every kind's action type that plan output shows; each kind adds what its apply needs. */
export interface KindAction {
  readonly action: ActionVerb;
  readonly reason: string;
  readonly changes?: readonly FieldChange[];
}

/** One line of `certitrack-agent plan`. */
export interface PlannedAction extends KindAction {
  readonly kind: string;
  readonly name: string;
}

/** Whether an action changes anything (everything but notes). */
export const isChange = (a: KindAction): boolean => a.action !== 'note';

/** Something that happened outside a reconcile that may concern some keys. */
export type AgentEvent =
  /** A container event from the engine, for a container of this agent instance. */
  | { readonly type: 'container'; readonly action: string; readonly labels: Readonly<Record<string, string>> }
  /** A Schedule or Backup run started in the background has finished. */
  | { readonly type: 'job-finished'; readonly key: string; readonly succeeded: boolean }
  /** A reconcile of `key` applied at least one change (a network or volume now exists, say). */
  | { readonly type: 'applied'; readonly key: string };

export const resourceKey = (kind: string, name: string): string => `${kind}/${name}`;

export function parseResourceKey(key: string): { kind: string; name: string } {
  const slash = key.indexOf('/');
  if (slash <= 0) throw new Error(`not a resource key: ${key}`);
  return { kind: key.slice(0, slash), name: key.slice(slash + 1) };
}
