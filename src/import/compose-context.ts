import type { ResourceNames } from './resource-names.js';
import type { FileSources } from './compose-file-sources.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Obj = { [key: string]: Json };
export type EnvValue = string | { secretRef: string };

/** What translating one service needs from the whole compose file, and where it reports. */
export interface ServiceContext {
  services: ResourceNames;
  networks: ResourceNames;
  volumes: ResourceNames;
  /** Top-level `secrets:` and `configs:`, for the service's references to them. */
  fileSources: FileSources;
  /** Services left out because of their profiles (original name → profiles), for dependencies on them. */
  skipped: ReadonlyMap<string, readonly string[]>;
  /**
   * A compose-relative host path rewritten relative to the manifests folder; a path that climbs out
   * of it is written absolute, with a warning about `key` (the agent rejects relative paths that climb out).
   */
  hostPath(path: string, key: string): string;
  /** The text of a file named relative to the compose file, or undefined when it cannot be read. */
  readFile(path: string): string | undefined;
  /** Warn about this service's `key`: it was not translated exactly. */
  warn(key: string, message: string): void;
  /** Tell about this service's `key`: translated, but the reader should know how. */
  note(key: string, message: string): void;
  /** Original names of the networks and volumes the service uses, to declare them. */
  usedNetworks: Set<string>;
  usedVolumes: Set<string>;
}

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export const scalar = (v: Json | undefined): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;

/** A list-valued key (`ports`, `volumes`, `expose`, …): absent is empty; anything but a list is warned about. */
export function listOf(raw: Json | undefined, key: string, ctx: Pick<ServiceContext, 'warn'>): Json[] {
  if (raw === undefined || raw === null) return [];
  if (Array.isArray(raw)) return raw;
  ctx.warn(key, 'expected a list; not translated');
  return [];
}

/** compose's list-of-`K=V` or mapping forms; a value of undefined means "K" with no value. */
export function keyValues(raw: Json | undefined, key: string, ctx: Pick<ServiceContext, 'warn'>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (raw === undefined || raw === null) return out;
  if (Array.isArray(raw)) {
    for (const item of raw) {
      const text = scalar(item);
      if (text === undefined) {
        ctx.warn(key, 'expected KEY=VALUE strings; an entry was not translated');
        continue;
      }
      const eq = text.indexOf('=');
      if (eq < 0) out[text] = undefined;
      else out[text.slice(0, eq)] = text.slice(eq + 1);
    }
  } else if (isObj(raw)) {
    for (const [k, v] of Object.entries(raw)) out[k] = v === null ? undefined : (scalar(v) ?? JSON.stringify(v));
  } else {
    ctx.warn(key, 'expected a list or a mapping; not translated');
  }
  return out;
}

/** Lists the keys of `raw` not in `known` as "not translated": nothing is dropped silently. */
export function warnUnknownKeys(raw: Obj, known: readonly string[], warn: (key: string) => void): void {
  for (const key of Object.keys(raw)) if (!known.includes(key)) warn(key);
}
