import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import pino from 'pino';
import { Registry } from 'prom-client';
import { dockerClients } from '../adapters/docker/index.js';
import type { AgentConfig } from '../config.js';
import type { DesiredState } from '../manifests/desired-state.js';
import { loadManifests } from '../manifests/load.js';
import { formatManifestError } from '../manifests/source.js';
import { EnvFileSecrets } from '../manifests/secrets.js';
import { BackupReconciler, backupOptionsFrom } from '../reconcilers/backup-reconciler.js';
import { JobRunner } from '../schedule/job-runner.js';
import { RunHistory } from '../schedule/run-history.js';
import { DurableState } from '../state/durable-state.js';
import { AGENT_VERSION } from '../version.js';

/**
 * A BackupReconciler for `backup list|verify` and `restore` in the CLI's own process. These read or
 * write the destination and the containers directly, so they work with the agent stopped; their
 * bookkeeping goes to a throwaway state directory, never the agent's state.json, whose run history
 * a second writer would overwrite.
 */
export async function withBackupTooling<T>(config: AgentConfig, fn: (r: BackupReconciler, desired: DesiredState) => Promise<T>): Promise<T> {
  const secrets = new EnvFileSecrets(config.secretsFile);
  const loaded = await loadManifests(config.manifestsDir, { secrets });
  if (!loaded.ok) throw new Error(`manifests rejected:\n${loaded.errors.map(formatManifestError).join('\n')}`);
  const scratch = await mkdtemp(join(tmpdir(), 'certitrack-cli-'));
  try {
    const state = await DurableState.open(scratch);
    const history = new RunHistory(state);
    const registry = new Registry();
    const log = pino({ level: 'warn' });
    const docker = dockerClients(new Dockerode({ socketPath: config.dockerSocket }));
    const reconciler = new BackupReconciler(docker, history, new JobRunner(history, registry, { log }), registry, backupOptionsFrom(config, { secrets, state, agentVersion: AGENT_VERSION, log }));
    return await fn(reconciler, loaded.state);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
