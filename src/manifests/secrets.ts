import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import type { ValueOrSecret } from './kinds/common.js';

/**
 * Where `{ secretRef: NAME }` values come from: a secrets env file (KEY=VALUE lines, the format of
 * the seed's .env.production and of systemd's EnvironmentFile), then the agent's own environment.
 * Values are only ever read when applied; they never enter the desired state, logs, status or plan.
 */
export interface SecretSource {
  get(name: string): string | undefined;
  /** Every secret value known, so that output can be scrubbed of them. */
  values(): readonly string[];
}

export class EnvFileSecrets implements SecretSource {
  private readonly fromFile: Record<string, string>;

  constructor(
    readonly file: string | undefined,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.fromFile = file ? readEnvFile(file) : {};
  }

  get(name: string): string | undefined {
    return this.fromFile[name] ?? this.env[name];
  }

  values(): readonly string[] {
    return Object.values(this.fromFile).filter((v) => v.length >= 4);
  }
}

function readEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read secrets file ${file}: ${(err as Error).message}`);
  }
  return parseEnv(text) as Record<string, string>;
}

export class StaticSecrets implements SecretSource {
  constructor(private readonly map: Record<string, string>) {}
  get(name: string): string | undefined {
    return this.map[name];
  }
  values(): readonly string[] {
    return Object.values(this.map);
  }
}

/** Turns a literal-or-reference into its value. Throws naming the reference, never the value. */
export function resolveValue(value: ValueOrSecret, secrets: SecretSource, baseDir: string): string {
  if (typeof value === 'string') return value;
  if ('secretRef' in value) {
    const v = secrets.get(value.secretRef);
    if (v === undefined) throw new Error(`secret ${value.secretRef} is not defined`);
    return v;
  }
  const path = isAbsolute(value.file) ? value.file : resolve(baseDir, value.file);
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new Error(`cannot read secret file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
