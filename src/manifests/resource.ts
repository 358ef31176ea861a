import type { SourceRef } from './source.js';

/** One validated manifest document. `spec` has every default applied. */
export interface Resource<S = unknown> {
  readonly kind: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly spec: S;
  readonly source: SourceRef;
}
