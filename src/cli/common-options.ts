import { type Command, Option } from 'commander';
import { configFrom, DEFAULTS, LOG_LEVELS, type AgentConfig } from '../config.js';
import { parseDuration } from '../util/duration.js';

/** The flags of the commands that act on manifests themselves (run, plan, apply, the backup tools). */
export interface CommonFlags {
  stateDir?: string;
  secretsFile?: string;
  instance?: string;
  listen?: string;
  logLevel?: string;
  allowEmpty?: boolean;
  resync?: string;
  restartBackoff?: string;
  policy?: string;
  secretEnv?: string[];
  strict?: boolean;
  awsInstanceId?: string;
}

export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** The flags every command that validates manifests takes (docs/security.md). */
export const policyOptions = {
  policy: ['--policy <file>', 'host policy: what manifests may touch beyond their folder (default /etc/certitrack/policy.yaml if present, env CERTITRACK_POLICY)'],
  secretEnv: ['--secret-env <name>', 'an environment variable of the agent that { secretRef } may read (repeatable; never CERTITRACK_* or AWS_*)', collect],
  strict: ['--strict', 'treat warnings (a secret too short to scrub safely, a secrets file others can read) as errors'],
} as const;

export const withCommon = (cmd: Command): Command =>
  cmd
    .option('--state-dir <dir>', `where the agent keeps state (default ${DEFAULTS.stateDir}, env CERTITRACK_STATE_DIR)`)
    .option('--secrets-file <file>', 'KEY=VALUE file that { secretRef: KEY } values come from (env CERTITRACK_SECRETS_FILE)')
    .option('--instance <name>', `prefix of every Docker object and owner label (default ${DEFAULTS.instance})`)
    .addOption(new Option('--log-level <level>', 'how much the agent logs (env LOG_LEVEL; default info)').choices(LOG_LEVELS))
    .option('--allow-empty', 'allow an empty manifests folder to remove everything the agent owns')
    .option('--restart-backoff <duration>', 'first crash-loop backoff step, doubling to 5 min (default 10s)')
    .option(...policyOptions.policy)
    .option(...policyOptions.secretEnv)
    .option(...policyOptions.strict)
    .option('--aws-instance-id <id>', 'EC2 instance id for InstanceId: auto when IMDS cannot tell it, e.g. off EC2 (env CERTITRACK_AWS_INSTANCE_ID)');

export function toConfig(dir: string, flags: CommonFlags & { allowedHost?: string[] }): AgentConfig {
  const ms = (text: string | undefined, flag: string): number | undefined => {
    if (text === undefined) return undefined;
    const v = parseDuration(text);
    if (v === undefined) throw new Error(`${flag}: "${text}" is not a duration`);
    return v;
  };
  return configFrom({
    manifestsDir: dir,
    stateDir: flags.stateDir,
    secretsFile: flags.secretsFile,
    instance: flags.instance,
    listen: flags.listen,
    logLevel: flags.logLevel,
    allowEmpty: flags.allowEmpty,
    resyncMs: ms(flags.resync, '--resync'),
    restartBackoffBaseMs: ms(flags.restartBackoff, '--restart-backoff'),
    policyFile: flags.policy,
    secretEnv: flags.secretEnv,
    strict: flags.strict,
    allowedHosts: flags.allowedHost,
    awsInstanceId: flags.awsInstanceId,
  });
}

