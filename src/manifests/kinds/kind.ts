import type { z } from 'zod';
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

/** Everything the loader needs to know about one kind. */
export interface KindDefinition<S extends z.ZodType = z.ZodType> {
  readonly kind: string;
  readonly description: string;
  readonly spec: S;
  /** Cross-document checks, run once every document of every kind parsed. */
  readonly check?: (ctx: CheckContext) => void;
}

export const defineKind = <S extends z.ZodType>(def: KindDefinition<S>): KindDefinition<S> => def;
