import type { DesiredState } from '../desired-state.js';
import type { Resource } from '../resource.js';
import type { FieldPath } from '../source.js';
import type { SecretSource } from '../secrets.js';

export interface CheckContext {
  readonly state: DesiredState;
  readonly secrets: SecretSource;
  /** The manifests folder being loaded: relative paths in manifests must stay inside it. */
  readonly root: string;
  /** Record a problem at a field of a resource; `atKey` points at the key itself (for "unknown" or "duplicate"). */
  report(resource: Resource, path: FieldPath, message: string, atKey?: boolean): void;
}

/** A cross-document check: runs once every document of every kind has parsed. */
export type CrossDocumentCheck = (ctx: CheckContext) => void;
