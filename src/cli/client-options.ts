import type { Command } from 'commander';
import { DEFAULTS } from '../config.js';
import { AgentClient, type ClientFlags } from './agent-client.js';

export type ClientCommandFlags = ClientFlags & { instance?: string };

/**
 * Where every client command finds the running agent: its root-only socket in --state-dir (no
 * flags needed as root), or --listen plus the API token (docs/security.md). With --instance (or
 * CERTITRACK_INSTANCE), the agent that answers must be that instance.
 */
export const withClient = (cmd: Command): Command =>
  cmd
    .option('--state-dir <dir>', `the running agent's state dir, where its socket and API token are (default ${DEFAULTS.stateDir}, env CERTITRACK_STATE_DIR)`)
    .option('--listen <host:port>', 'reach the agent over TCP at this address instead of its socket (needs the API token; env CERTITRACK_LISTEN)')
    .option('--token-file <file>', 'the API token for --listen (default <state-dir>/api.token)')
    .option('--instance <name>', 'refuse to talk to an agent of another instance (env CERTITRACK_INSTANCE)');

/** The one way a client command reaches the agent: resolve the endpoint, then check who answered. */
export async function connect(flags: ClientCommandFlags, env: NodeJS.ProcessEnv = process.env): Promise<AgentClient> {
  const client = AgentClient.from(flags, env);
  const instance = flags.instance ?? (env.CERTITRACK_INSTANCE || undefined);
  if (instance !== undefined) await client.info(instance);
  return client;
}
