import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { readBoundedFileSync } from '../util/bounded-read.js';
import { EnvFileSyntaxError, parseEnvFile } from './env-file.js';
import type { ValueOrSecret } from './kinds/common.js';

/**
 * Where `{ secretRef: NAME }` values come from: a secrets env file (KEY=VALUE lines, the format of
 * the seed's .env.production and of systemd's EnvironmentFile), plus only those variables of the
 * agent's own environment that the administrator allowed by name. Values are only ever read when
 * applied or checked; they never enter the desired state, and every value handed out is remembered
 * so that logs, status, state and errors can be scrubbed of it.
 */
export interface SecretSource {
  /** The value, remembered for scrubbing; undefined when the name resolves to nothing here. */
  get(name: string): string | undefined;
  /** Every secret value known, so that output can be scrubbed of them. */
  values(): readonly string[];
  /** Registers a value resolved elsewhere (the content of a `file:` reference) for scrubbing. */
  remember(value: string): void;
  /** Why `name` resolves to nothing, and what would make it resolve; for validation messages. */
  explainMissing(name: string): string;
  /** Problems with the source that do not stop the agent (a secrets file others can read). */
  readonly warnings?: readonly SecretWarning[];
}

export interface SecretWarning {
  file: string;
  message: string;
}

/** A secret file (`file:`) or secrets file line longer than this is not a secret. */
export const MAX_SECRET_FILE_BYTES = 1024 * 1024;
/** Shorter values are scrubbed too, but also match unrelated text; validation warns about them. */
export const MIN_SAFE_SECRET_LENGTH = 8;
/** Unreferenced secrets-file values shorter than this are not scrubbed (they are often flags and ports). */
const MIN_UNREFERENCED_SCRUB_LENGTH = 4;
/** Remembered values are kept across reloads (a rotated secret may still be in a running job's output). */
const MAX_REMEMBERED = 10_000;

/**
 * The agent's own settings and the AWS credentials can never be read through secretRef: a manifest
 * could otherwise hand the webhook secret or the instance's credentials to any container.
 */
export function forbiddenSecretEnv(name: string): string | undefined {
  if (name.startsWith('CERTITRACK_')) return `${name} is the agent's own configuration, never a secret for manifests`;
  if (name.startsWith('AWS_')) return `${name} is an AWS setting (the agent's credentials live there), never a secret for manifests`;
  return undefined;
}

/** The values handed out so far, in insertion order, shared across reloads of the secrets file. */
export class RememberedSecrets {
  private readonly set = new Set<string>();
  private cached: readonly string[] | undefined;

  add(value: string): void {
    if (value === '' || this.set.has(value)) return;
    this.set.add(value);
    if (this.set.size > MAX_REMEMBERED) this.set.delete(this.set.values().next().value as string);
    this.cached = undefined;
  }

  list(): readonly string[] {
    return (this.cached ??= [...this.set]);
  }
}

export interface EnvFileSecretsOptions {
  /** Names of the agent's environment variables secretRef may read (--secret-env, policy secretEnv). */
  allowEnv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Shared with the previous generation, so a reload forgets nothing that may still be in output. */
  remembered?: RememberedSecrets;
}

export class EnvFileSecrets implements SecretSource {
  private readonly fromFile: Record<string, string>;
  private readonly allowEnv: ReadonlySet<string>;
  private readonly env: NodeJS.ProcessEnv;
  private readonly remembered: RememberedSecrets;
  private cached: { from: readonly string[]; all: readonly string[] } | undefined;
  /** Problems that do not stop the agent (a secrets file others can read). */
  readonly warnings: SecretWarning[] = [];

  /** Throws when the file is given but missing or unreadable, or when a line is malformed. */
  constructor(
    readonly file: string | undefined,
    opts: EnvFileSecretsOptions = {},
  ) {
    for (const name of opts.allowEnv ?? []) {
      const why = forbiddenSecretEnv(name);
      if (why) throw new Error(`--secret-env: ${why}`);
    }
    this.allowEnv = new Set(opts.allowEnv ?? []);
    this.env = opts.env ?? process.env;
    this.remembered = opts.remembered ?? new RememberedSecrets();
    this.fromFile = file ? this.readFile(file) : {};
  }

  get(name: string): string | undefined {
    // The secrets file is also the unit's EnvironmentFile and holds the agent's own settings.
    if (forbiddenSecretEnv(name)) return undefined;
    const v = this.fromFile[name] ?? (this.allowEnv.has(name) ? this.env[name] : undefined);
    if (v !== undefined) this.remembered.add(v);
    return v;
  }

  remember(value: string): void {
    this.remembered.add(value);
  }

  values(): readonly string[] {
    const from = this.remembered.list();
    if (this.cached?.from !== from) {
      const ambient = [...Object.values(this.fromFile), ...[...this.allowEnv].map((n) => this.env[n] ?? '')];
      this.cached = { from, all: [...new Set([...from, ...ambient.filter((v) => v.length >= MIN_UNREFERENCED_SCRUB_LENGTH)])] };
    }
    return this.cached.all;
  }

  explainMissing(name: string): string {
    const where = this.file ? `the secrets file ${this.file}` : 'any secrets file (none given: --secrets-file)';
    const env = forbiddenSecretEnv(name);
    if (env) return `secret ${name} cannot be referenced: ${env}`;
    if (this.allowEnv.has(name)) return `secret ${name} is not defined in ${where} nor in the agent's environment`;
    return `secret ${name} is not defined in ${where}; to take it from the agent's environment, allow it with --secret-env ${name} or secretEnv: [${name}] in the host policy file`;
  }

  private readFile(file: string): Record<string, string> {
    let real: string;
    try {
      real = realpathSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(code === 'ENOENT' ? `secrets file ${file} does not exist` : `cannot read secrets file ${file} (${code ?? 'error'})`);
    }
    const read = readBoundedFileSync(real, MAX_SECRET_FILE_BYTES);
    if (!read.ok) throw new Error(`secrets file ${file} ${read.detail}`);
    const mode = statSync(real).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      this.warnings.push({ file, message: `the secrets file has mode ${mode.toString(8).padStart(4, '0')}: group or others may read it; chmod 600 it` });
    }
    try {
      return parseEnvFile(read.data.toString('utf8'));
    } catch (err) {
      if (err instanceof EnvFileSyntaxError) throw new Error(`secrets file ${file}: ${err.message}`);
      throw err;
    }
  }
}

/** A fixed map, for tests and tools. */
export class StaticSecrets implements SecretSource {
  private readonly remembered = new RememberedSecrets();

  constructor(private readonly map: Record<string, string>) {}

  get(name: string): string | undefined {
    const v = this.map[name];
    if (v !== undefined) this.remembered.add(v);
    return v;
  }

  remember(value: string): void {
    this.remembered.add(value);
  }

  values(): readonly string[] {
    return [...new Set([...Object.values(this.map), ...this.remembered.list()])];
  }

  explainMissing(name: string): string {
    return `secret ${name} is not defined`;
  }
}

/** Where a `file:` reference points: relative to the manifest's folder. */
export const secretFilePath = (file: string, baseDir: string): string => (isAbsolute(file) ? file : resolve(baseDir, file));

/**
 * Reads a `file:` secret: a regular file of at most 1 MiB, trailing newline trimmed. Never blocks on
 * a FIFO or device. The error names the path, never the content.
 */
export function readSecretFile(path: string): string {
  let real: string;
  try {
    real = realpathSync(path);
  } catch (err) {
    throw new Error(`cannot read secret file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const read = readBoundedFileSync(real, MAX_SECRET_FILE_BYTES);
  if (!read.ok) throw new Error(`cannot read secret file ${path}: it ${read.detail}`);
  return read.data.toString('utf8').replace(/\r?\n$/, '');
}

/**
 * Turns a literal-or-reference into its value, remembering every secret it resolves so output is
 * scrubbed of it. Throws naming the reference, never the value.
 */
export function resolveValue(value: ValueOrSecret, secrets: SecretSource, baseDir: string): string {
  if (typeof value === 'string') return value;
  if ('secretRef' in value) {
    const v = secrets.get(value.secretRef);
    if (v === undefined) throw new Error(`secret ${value.secretRef} is not defined`);
    return v;
  }
  const v = readSecretFile(secretFilePath(value.file, baseDir));
  secrets.remember(v);
  return v;
}
