import { resolve } from 'node:path';
import { parseListen, type ListenAddress } from './server/http-server.js';

/** Everything the agent can be told, from flags or environment; see README "Configuration". */
export interface AgentConfig {
  manifestsDir: string;
  stateDir: string;
  secretsFile: string | undefined;
  listen: ListenAddress;
  /** Prefix of every Docker object name and the value of the instance label. */
  instance: string;
  dockerSocket: string;
  resyncMs: number;
  concurrency: number;
  allowEmpty: boolean;
  restartBackoffBaseMs: number;
  restartBackoffMaxMs: number;
  logLevel: string;
}

export const DEFAULTS = {
  stateDir: '/var/lib/certitrack-agent',
  listen: '127.0.0.1:9464',
  instance: 'certitrack',
  dockerSocket: '/var/run/docker.sock',
  resyncMs: 5 * 60_000,
  concurrency: 4,
  restartBackoffBaseMs: 10_000,
  restartBackoffMaxMs: 300_000,
} as const;

export function configFrom(opts: Partial<Record<keyof AgentConfig, unknown>> & { manifestsDir: string }, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const str = (v: unknown, fallback: string): string => (typeof v === 'string' && v !== '' ? v : fallback);
  const num = (v: unknown, fallback: number): number => (v === undefined ? fallback : Number(v));
  const instance = str(opts.instance ?? env.CERTITRACK_INSTANCE, DEFAULTS.instance);
  if (!/^[a-z0-9][a-z0-9_.-]*$/.test(instance)) throw new Error(`--instance: "${instance}" is not a valid Docker name prefix`);
  return {
    manifestsDir: resolve(opts.manifestsDir),
    stateDir: resolve(str(opts.stateDir ?? env.CERTITRACK_STATE_DIR, DEFAULTS.stateDir)),
    secretsFile: typeof (opts.secretsFile ?? env.CERTITRACK_SECRETS_FILE) === 'string' ? resolve(String(opts.secretsFile ?? env.CERTITRACK_SECRETS_FILE)) : undefined,
    listen: typeof opts.listen === 'object' && opts.listen !== null ? (opts.listen as ListenAddress) : parseListen(str(opts.listen ?? env.CERTITRACK_LISTEN, DEFAULTS.listen)),
    instance,
    dockerSocket: str(opts.dockerSocket ?? env.DOCKER_SOCKET, DEFAULTS.dockerSocket),
    resyncMs: num(opts.resyncMs, DEFAULTS.resyncMs),
    concurrency: num(opts.concurrency, DEFAULTS.concurrency),
    allowEmpty: opts.allowEmpty === true,
    restartBackoffBaseMs: num(opts.restartBackoffBaseMs, DEFAULTS.restartBackoffBaseMs),
    restartBackoffMaxMs: num(opts.restartBackoffMaxMs, DEFAULTS.restartBackoffMaxMs),
    logLevel: str(opts.logLevel ?? env.LOG_LEVEL, 'info'),
  };
}
