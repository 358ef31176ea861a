import type { DesiredState } from '../desired-state.js';
import type { HostRules } from '../host-policy.js';
import type { Resource } from '../resource.js';
import type { FieldPath } from '../source.js';
import type { SecretSource } from '../secrets.js';

/** What the agent knows it issued, so an existing keyFile can be told apart from a stranger's file. */
export interface IssuedCertificates {
  /** Serials of certificates the agent wrote (its issuance records). */
  readonly serials: ReadonlySet<string>;
  /** Certificate names the agent has an issuance record for. */
  readonly names: ReadonlySet<string>;
}

export interface CheckContext {
  readonly state: DesiredState;
  readonly secrets: SecretSource;
  /** The manifests folder being loaded (its real path): relative paths in manifests must stay inside it. */
  readonly root: string;
  /** The host policy and the agent's own protected paths. */
  readonly rules: HostRules;
  /** Undefined where the agent's state is not at hand (`validate` without --state-dir). */
  readonly issued: IssuedCertificates | undefined;
  /**
   * The manifests alone, away from the host that runs them (`validate --offline` in a manifests
   * repo's CI, `export`): whether secrets, secret files, build contexts and host paths exist is not
   * asked; every rule about the manifests themselves, paths included, still is.
   */
  readonly offline: boolean;
  /** Record a problem at a field of a resource; `atKey` points at the key itself (for "unknown" or "duplicate"). */
  report(resource: Resource, path: FieldPath, message: string, atKey?: boolean): void;
  /** Record something risky that is allowed (an error with --strict). */
  warn(resource: Resource, path: FieldPath, message: string): void;
}

/** A cross-document check: runs once every document of every kind has parsed. */
export type CrossDocumentCheck = (ctx: CheckContext) => void;
