import { parseEnv } from 'node:util';
import { isObj, keyValues, scalar, type EnvValue, type Json, type Obj, type ServiceContext } from './compose-context.js';
import { literalText, parseInterpolation, type VariableSegment } from './compose-interpolation.js';
import { looksSecret } from './secret-values.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/**
 * A service's environment as compose builds it: every `env_file` in order (a later file wins),
 * then `environment` over them. Values interpolated from the host, and literal values that look
 * secret, become secret references, so no secret is written into a manifest.
 */
export function translateEnv(raw: Obj, ctx: ServiceContext): Record<string, EnvValue> {
  const env: Record<string, EnvValue> = {};
  for (const file of envFiles(raw.env_file, ctx)) {
    const moved: string[] = [];
    for (const [name, value] of Object.entries(file.values)) {
      const translated = translateValue(name, value, `env_file.${name}`, ctx);
      if (translated !== undefined) env[name] = translated;
      if (!/[$]/.test(value) && typeof translated === 'object') moved.push(name);
    }
    if (moved.length > 0) {
      ctx.note(
        'env_file',
        `${file.shown}: ${moved.join(', ')} look${moved.length === 1 ? 's' : ''} secret and became secretRefs: move ${moved.length === 1 ? 'its value' : 'their values'} from ${file.shown} into the secrets file`,
      );
    }
  }
  for (const [name, value] of Object.entries(keyValues(raw.environment, 'environment', ctx))) {
    const translated = value === undefined ? passThrough(name, ctx) : translateValue(name, value, `environment.${name}`, ctx);
    if (translated !== undefined) env[name] = translated;
  }
  return env;
}

interface EnvFile {
  /** As the compose file names it (relative to the compose file): no path of this machine goes into the manifests. */
  shown: string;
  values: Record<string, string>;
}

/** `env_file: path`, a list of paths, or (compose 2.24+) a list of `{ path, required }`. */
function envFiles(raw: Json | undefined, ctx: ServiceContext): EnvFile[] {
  if (raw === undefined || raw === null) return [];
  const entries = Array.isArray(raw) ? raw : [raw];
  const out: EnvFile[] = [];
  for (const entry of entries) {
    const path = isObj(entry) ? scalar(entry.path) : scalar(entry);
    const required = !(isObj(entry) && entry.required === false);
    if (path === undefined) {
      ctx.warn('env_file', `${JSON.stringify(entry)}: expected a path or { path, required }; not translated`);
      continue;
    }
    if (isObj(entry)) for (const k of Object.keys(entry)) if (k !== 'path' && k !== 'required') ctx.warn(`env_file.${k}`, `option of ${path} not translated`);
    const shown = path;
    const text = ctx.readFile(path);
    if (text === undefined) {
      if (required) ctx.warn('env_file', `${shown} cannot be read, so its variables are missing (compose refuses to start without it)`);
      else ctx.note('env_file', `${shown} does not exist and is optional (required: false); nothing taken from it`);
      continue;
    }
    out.push({ shown, values: parseEnv(text) as Record<string, string> });
  }
  return out;
}

/** `- KEY` with no value passes the host's KEY through: the agent's secrets (or its environment) now provide it. */
function passThrough(name: string, ctx: ServiceContext): EnvValue | undefined {
  return validName(name, `environment.${name}`, ctx) ? { secretRef: name } : undefined;
}

function validName(name: string, key: string, ctx: ServiceContext): boolean {
  if (ENV_NAME.test(name)) return true;
  ctx.warn(key, 'not a valid environment variable name; not translated');
  return false;
}

/**
 * One value, as compose would interpolate it on the host:
 * - a literal stays literal, unless it looks secret (then a secretRef named after the variable);
 * - `${VAR}`, `${VAR:?err}`: a secretRef to VAR, so the value stays required;
 * - `${VAR:-default}`, `${VAR-default}`: the default as a literal, unless VAR or the default looks
 *   secret: then a secretRef to VAR, and the default is not copied (it would be a password in git);
 * - anything mixed: a secretRef holding the whole value.
 */
function translateValue(name: string, value: string, key: string, ctx: ServiceContext): EnvValue | undefined {
  if (!validName(name, key, ctx)) return undefined;
  const segments = parseInterpolation(value);
  const vars = segments.filter((s): s is VariableSegment => s.kind === 'variable');
  if (vars.length === 0) {
    const text = literalText(value);
    if (!looksSecret(name, text)) return text;
    if (key.startsWith('environment.')) ctx.note(key, `the literal value looks secret and became { secretRef: ${name} }: move it from the compose file into the secrets file`);
    return { secretRef: name };
  }
  const only = segments.length === 1 ? vars[0] : undefined;
  if (only && (only.operator === undefined || only.operator === ':?' || only.operator === '?')) return { secretRef: only.name };
  if (only && (only.operator === ':-' || only.operator === '-')) return withDefault(name, only, key, ctx);
  // A value must be one literal or one reference; the whole composed value becomes a secret of its own.
  // The literal part may itself be a password (postgres://app:hunter2@${HOST}/app): then it is not repeated.
  const shown = looksSecret(name, value) ? 'the value' : `"${value}"`;
  ctx.warn(key, `${shown} mixes text with ${vars.map((v) => v.name).join(', ')}; it now reads secret ${name}: define ${name} in the secrets file as the full value`);
  return { secretRef: name };
}

function withDefault(name: string, v: VariableSegment, key: string, ctx: ServiceContext): EnvValue {
  const fallback = v.argument ?? '';
  if (parseInterpolation(fallback).some((s) => s.kind === 'variable')) {
    ctx.warn(key, `the default of ${v.source} is itself interpolated, which manifests cannot do; it now reads secret ${v.name}: define ${v.name} in the secrets file`);
    return { secretRef: v.name };
  }
  const text = literalText(fallback);
  if (looksSecret(v.name, text) || looksSecret(name, text)) {
    ctx.note(key, `${v.name} looks secret, so its compose default was not copied into the manifests: define ${v.name} in the secrets file (the default is in the compose file)`);
    return { secretRef: v.name };
  }
  ctx.note(key, `reads compose's default "${text}" of \${${v.name}}; if the host set ${v.name} for compose, write that value instead`);
  return text;
}
