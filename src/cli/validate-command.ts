import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ISSUANCE_SECTION, issuedFrom, type IssuanceRecord } from '../certificates/issuance-record.js';
import { DEFAULTS } from '../config.js';
import type { IssuedCertificates } from '../manifests/checks/check-context.js';
import { hostRules, loadHostPolicy } from '../manifests/host-policy.js';
import { loadManifests, type LoadResult } from '../manifests/load.js';
import { EnvFileSecrets } from '../manifests/secrets.js';

export interface ValidateFlags {
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

/** `certitrack-agent validate DIR`: the agent's own load, with the same host policy and secrets rules, offline. */
export async function validateFolder(dir: string, flags: ValidateFlags, env: NodeJS.ProcessEnv = process.env): Promise<LoadResult> {
  const outputs = flags.stackOutputs ? (JSON.parse(await readFile(flags.stackOutputs, 'utf8')) as Record<string, string>) : undefined;
  const policyFile = flags.policy ?? env.CERTITRACK_POLICY;
  const policy = loadHostPolicy({ file: policyFile === undefined ? undefined : resolve(policyFile), manifestsDir: dir });
  const secretsFile = flags.secretsFile ?? env.CERTITRACK_SECRETS_FILE;
  const stateDir = flags.stateDir ?? env.CERTITRACK_STATE_DIR;
  return loadManifests(dir, {
    secrets: new EnvFileSecrets(secretsFile, { allowEnv: [...(flags.secretEnv ?? []), ...policy.secretEnv] }),
    cfnOutputs: async () => (outputs ? { ok: true, outputs } : { ok: false, reason: 'pass --stack-outputs FILE to check references offline' }),
    rules: hostRules(policy, { stateDir: stateDir ?? DEFAULTS.stateDir, secretsFile }),
    issued: await issuedIn(stateDir),
    strict: flags.strict === true,
  });
}
