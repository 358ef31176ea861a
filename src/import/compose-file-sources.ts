import { isObj, listOf, scalar, warnUnknownKeys, type EnvValue, type Json } from './compose-context.js';

/** Where a top-level secret or config comes from. */
export type FileSource =
  | { from: 'file'; path: string }
  /** compose 2.23+: the value of a host variable, written to a file in the container. */
  | { from: 'environment'; variable: string }
  /** Made outside compose (swarm, or `docker secret create`): nothing here to translate. */
  | { from: 'external' }
  | { from: 'other'; why: string };

export type FileSourceKind = 'secret' | 'config';

/** Top-level `secrets:` and `configs:`, by original name. */
export interface FileSources {
  secret: Map<string, FileSource>;
  config: Map<string, FileSource>;
}

/** Reads the top-level sections; their own untranslatable keys go to `warn`. */
export function readFileSources(root: Record<string, Json>, warn: (message: string) => void): FileSources {
  return { secret: readSection(root.secrets, 'secret', warn), config: readSection(root.configs, 'config', warn) };
}

function readSection(raw: Json | undefined, kind: FileSourceKind, warn: (message: string) => void): Map<string, FileSource> {
  const out = new Map<string, FileSource>();
  if (!isObj(raw)) return out;
  for (const [name, def] of Object.entries(raw)) {
    const d = isObj(def) ? def : {};
    warnUnknownKeys(d, ['file', 'environment', 'external', 'name', 'content'], (k) => warn(`${kind} "${name}": ${k}: not translated`));
    const file = scalar(d.file);
    const variable = scalar(d.environment);
    if (d.external === true || isObj(d.external)) out.set(name, { from: 'external' });
    else if (file !== undefined) out.set(name, { from: 'file', path: file });
    else if (variable !== undefined) out.set(name, { from: 'environment', variable });
    else if (d.content !== undefined) out.set(name, { from: 'other', why: `has inline content: write it to a file in the manifests folder and declare the ${kind} with file:` });
    else out.set(name, { from: 'other', why: 'names no file, environment or external' });
  }
  return out;
}

/** What a service's `secrets:`/`configs:` become: read-only bind mounts, and env values for the `*_FILE` convention. */
export interface FileMounts {
  volumes: string[];
  /** Environment variables to set (X for X_FILE) and the X_FILE variables to drop. */
  env: Record<string, EnvValue>;
  dropEnv: string[];
  /** Paths inside the container that will hold a secret or config, to check `*_FILE` values against. */
  targets: Set<string>;
}

export interface FileMountContext {
  sources: FileSources;
  env: Readonly<Record<string, EnvValue>>;
  hostPath(path: string, key: string): string;
  warn(key: string, message: string): void;
}

/**
 * A service's references to secrets (mounted at /run/secrets/<target>) and configs (at
 * /<name> or their target), as compose mounts them without swarm: the file is bind-mounted
 * read-only, so `POSTGRES_PASSWORD_FILE=/run/secrets/db_password` keeps working. A secret taken
 * from a host variable has no file to mount; where a `*_FILE` variable points at it, the
 * variable without `_FILE` is set from the secret instead (the convention's other half).
 */
export function translateFileMounts(secrets: Json | undefined, configs: Json | undefined, ctx: FileMountContext): FileMounts {
  const out: FileMounts = { volumes: [], env: {}, dropEnv: [], targets: new Set() };
  for (const [kind, raw] of [['secret', secrets], ['config', configs]] as const) {
    for (const ref of listOf(raw, `${kind}s`, ctx)) mountOne(kind, ref, ctx, out);
  }
  return out;
}

function mountOne(kind: FileSourceKind, ref: Json, ctx: FileMountContext, out: FileMounts): void {
  const key = `${kind}s`;
  const name = isObj(ref) ? scalar(ref.source) : scalar(ref);
  if (name === undefined) {
    ctx.warn(key, `${JSON.stringify(ref)}: expected a name or { source, target }; not translated`);
    return;
  }
  const written = isObj(ref) ? scalar(ref.target) : undefined;
  const target = targetOf(kind, name, written);
  if (isObj(ref)) {
    for (const k of Object.keys(ref)) {
      if (k === 'uid' || k === 'gid' || k === 'mode') ctx.warn(`${key}.${name}.${k}`, 'not translated: the file is bind-mounted with its owner and mode on the host');
      else if (k !== 'source' && k !== 'target') ctx.warn(`${key}.${name}.${k}`, 'not translated');
    }
  }
  const source = ctx.sources[kind].get(name);
  if (source === undefined) {
    ctx.warn(`${key}.${name}`, `${kind} "${name}" is not declared at the top level; not translated`);
    return;
  }
  if (source.from === 'file') {
    out.volumes.push(`${ctx.hostPath(source.path, `${key}.${name}`)}:${target}:ro`);
    out.targets.add(target);
    return;
  }
  if (source.from === 'environment') {
    const users = Object.entries(ctx.env).filter(([k, v]) => k.endsWith('_FILE') && v === target).map(([k]) => k);
    if (users.length === 0) {
      ctx.warn(`${key}.${name}`, `comes from host variable ${source.variable}, and the agent cannot write it to ${target}: put it in a file and declare the ${kind} with file:`);
      return;
    }
    for (const fileVar of users) {
      const plainVar = fileVar.slice(0, -'_FILE'.length);
      out.env[plainVar] = { secretRef: source.variable };
      out.dropEnv.push(fileVar);
      ctx.warn(
        `${key}.${name}`,
        `comes from host variable ${source.variable}, which the agent cannot write to ${target}: ${fileVar} became ${plainVar} = { secretRef: ${source.variable} }; check that the image reads ${plainVar} (official database images do)`,
      );
    }
    return;
  }
  const why = source.from === 'external' ? `is external (made outside compose, e.g. in swarm), so there is no file here to mount: provide it as a file and mount it at ${target}` : source.why;
  ctx.warn(`${key}.${name}`, `${kind} "${name}" ${why}; not translated`);
}

/** compose's defaults: secrets under /run/secrets, configs at the root. */
function targetOf(kind: FileSourceKind, name: string, written: string | undefined): string {
  if (written?.startsWith('/')) return written;
  return kind === 'secret' ? `/run/secrets/${written ?? name}` : `/${written ?? name}`;
}
