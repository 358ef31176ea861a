import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ISSUANCE_SECTION, issuedFrom, type IssuanceRecord } from '../certificates/issuance-record.js';
import { DEFAULTS } from '../config.js';
import type { IssuedCertificates } from '../manifests/checks/check-context.js';
import { hostRules, loadHostPolicy } from '../manifests/host-policy.js';
import { loadManifests, type LoadResult } from '../manifests/load.js';
import { EnvFileSecrets, StaticSecrets } from '../manifests/secrets.js';
import { formatManifestError, type ManifestError } from '../manifests/source.js';

export interface ValidateFlags {
  /** The manifests alone, for a manifests repository's CI (see CheckContext.offline). */
  offline?: boolean;
  secretsFile?: string;
  stackOutputs?: string;
  policy?: string;
  secretEnv?: string[];
  strict?: boolean;
  stateDir?: string;
}

/**
 * What the agent knows it issued, read from state.json without opening the store (validate must
 * change nothing, not even create hash.key). Unknown without --state-dir.
 */
async function issuedIn(stateDir: string | undefined): Promise<IssuedCertificates | undefined> {
  if (stateDir === undefined) return undefined;
  try {
    const sections = JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8')) as Record<string, Record<string, Partial<IssuanceRecord>>>;
    return issuedFrom(Object.entries(sections[ISSUANCE_SECTION] ?? {}));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return issuedFrom([]);
    throw new Error(`cannot read ${join(stateDir, 'state.json')}: ${(err as Error).message}`);
  }
}

/**
 * `certitrack-agent validate DIR`: the agent's own load, with the same host policy and secrets
 * rules. With `offline` (a manifests repository's CI): the schema, cross-document rules, paths
 * relative to the folder and cron expressions are checked; secrets, secret files, build contexts,
 * host paths, the agent's state and the stack outputs are not asked for.
 */
export async function validateFolder(dir: string, flags: ValidateFlags, env: NodeJS.ProcessEnv = process.env): Promise<LoadResult> {
  const outputs = flags.stackOutputs ? (JSON.parse(await readFile(flags.stackOutputs, 'utf8')) as Record<string, string>) : undefined;
  const policyFile = flags.policy ?? env.CERTITRACK_POLICY;
  const policy = loadHostPolicy({ file: policyFile === undefined ? undefined : resolve(policyFile), manifestsDir: dir });
  const offline = flags.offline === true;
  const secretsFile = offline ? undefined : (flags.secretsFile ?? env.CERTITRACK_SECRETS_FILE);
  const stateDir = offline ? undefined : (flags.stateDir ?? env.CERTITRACK_STATE_DIR);
  return loadManifests(dir, {
    secrets: offline ? new StaticSecrets({}) : new EnvFileSecrets(secretsFile, { allowEnv: [...(flags.secretEnv ?? []), ...policy.secretEnv] }),
    cfnOutputs: async () => (outputs ? { ok: true, outputs } : { ok: false, reason: 'pass --stack-outputs FILE to check references offline' }),
    rules: hostRules(policy, { stateDir: stateDir ?? DEFAULTS.stateDir, secretsFile }),
    issued: await issuedIn(stateDir),
    strict: flags.strict === true,
    offline,
    trustCfnRefs: offline,
  });
}

/** What `validate -o json|yaml` prints: the same for scripts whatever the outcome. */
export type ValidationReport =
  | { ok: true; offline: boolean; revision: string; resources: number; files: string[]; warnings: ManifestError[] }
  | { ok: false; offline: boolean; errors: ManifestError[]; files: string[]; warnings: ManifestError[] };

export function validationReport(result: LoadResult, offline: boolean): ValidationReport {
  return result.ok
    ? { ok: true, offline, revision: result.state.revision, resources: result.state.size, files: result.files, warnings: result.warnings }
    : { ok: false, offline, errors: result.errors, files: result.files, warnings: result.warnings };
}

export const OFFLINE_SKIPPED = 'secrets, build contexts, host paths and stack outputs not checked';

/** The text form: the verdict on stdout, every warning and error (file:line:col) on stderr. */
export function renderValidation(r: ValidationReport): { stdout: string; stderr: string } {
  const warnings = r.warnings.map((w) => `warning: ${formatManifestError(w)}\n`).join('');
  const scope = r.offline ? ` (offline: ${OFFLINE_SKIPPED})` : '';
  if (r.ok) return { stdout: `${r.files.length} file(s), ${r.resources} resource(s) valid; revision ${r.revision}${scope}\n`, stderr: warnings };
  return { stdout: '', stderr: warnings + r.errors.map((e) => formatManifestError(e) + '\n').join('') + `${r.errors.length} error(s)${scope}\n` };
}
