import type { DesiredState } from '../desired-state.js';
import type { Resource } from '../resource.js';
import type { FieldPath } from '../source.js';

export interface CheckContext {
  readonly state: DesiredState;
  /** The manifests folder being loaded: relative paths in manifests must stay inside it. */
  readonly root: string;
  /** Whether a secret reference resolves; always true offline (the secrets live elsewhere). */
  secretDefined(name: string): boolean;
  /** Whether a host path exists; always true offline (the files are read later, or on another machine). */
  pathExists(path: string): boolean;
  /** Record a problem at a field of a resource; `atKey` points at the key itself (for "unknown" or "duplicate"). */
  report(resource: Resource, path: FieldPath, message: string, atKey?: boolean): void;
}

/** A cross-document check: runs once every document of every kind has parsed. */
export type CrossDocumentCheck = (ctx: CheckContext) => void;
