import { canonicalJson, sha256Hex } from '../util/hash.js';
import type { KindName, SpecOf } from './kinds/index.js';
import type { Resource } from './resource.js';

/**
 * One immutable snapshot of everything the manifests declare. A new snapshot replaces the old one
 * whole; nothing in the core mutates it.
 */
export class DesiredState {
  readonly revision: string;
  private readonly byKind = new Map<string, Map<string, Resource>>();

  constructor(
    resources: readonly Resource[],
    readonly loadedAt: Date,
    /** Where the manifests came from, e.g. a directory or a git commit; for /status. */
    readonly origin: string,
    /** The revision of the manifests these resources were derived from (an operator's suspend or restart is not a new revision). */
    revision?: string,
  ) {
    for (const r of resources) {
      let names = this.byKind.get(r.kind);
      if (!names) this.byKind.set(r.kind, (names = new Map()));
      names.set(r.name, r);
    }
    if (revision !== undefined) {
      this.revision = revision;
      return;
    }
    const canonical = [...resources]
      .sort((a, b) => (a.kind + '/' + a.name < b.kind + '/' + b.name ? -1 : 1))
      .map((r) => ({ kind: r.kind, name: r.name, labels: r.labels, spec: r.spec }));
    this.revision = sha256Hex(canonicalJson(canonical)).slice(0, 12);
  }

  static empty(origin = 'none'): DesiredState {
    return new DesiredState([], new Date(0), origin);
  }

  get<K extends KindName>(kind: K, name: string): Resource<SpecOf<K>> | undefined {
    return this.byKind.get(kind)?.get(name) as Resource<SpecOf<K>> | undefined;
  }

  list<K extends KindName>(kind: K): Resource<SpecOf<K>>[] {
    return [...(this.byKind.get(kind)?.values() ?? [])] as Resource<SpecOf<K>>[];
  }

  all(): Resource[] {
    return [...this.byKind.values()].flatMap((m) => [...m.values()]);
  }

  get size(): number {
    let n = 0;
    for (const m of this.byKind.values()) n += m.size;
    return n;
  }
}
