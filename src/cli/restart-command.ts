import type { Writable } from 'node:stream';
import type { RestartAccepted } from '../agent.js';
import type { RolloutHistoryEntry } from '../reconcilers/service/rollout-record.js';
import type { AgentClient } from './agent-client.js';
import { fetchStatus } from './status-command.js';

const POLL_MS = 1000;

/**
 * `restart SERVICE`: asks the agent for a new restart generation (POST
 * /v1/resources/Service/<name>/restart) and, unless told not to, waits for the rollout it starts
 * to finish: exit 0 when it succeeded, 1 when it failed or was rolled back (the old container
 * kept serving) or did not finish in time.
 */
export async function restartCommand(client: AgentClient, service: string, opts: { wait: boolean; timeoutMs: number }, out: Writable): Promise<number> {
  const accepted = (await client.postJson(`/v1/resources/Service/${encodeURIComponent(service)}/restart`)) as unknown as RestartAccepted;
  out.write(`Service/${service} restart requested (generation ${accepted.generation})\n`);
  if (!opts.wait) return 0;
  const deadline = Date.now() + opts.timeoutMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    const res = (await fetchStatus(client)).resources.find((r) => r.kind === 'Service' && r.name === service);
    const rollout = ((res?.details.rollouts as RolloutHistoryEntry[] | undefined) ?? []).find((h) => h.startedAt >= accepted.at && h.toHash !== accepted.fromHash);
    if (!rollout) continue;
    const took = ((Date.parse(rollout.finishedAt) - Date.parse(rollout.startedAt)) / 1000).toFixed(1);
    out.write(`Service/${service} ${rollout.result === 'succeeded' ? 'restarted' : `restart ${rollout.result}`} (${rollout.strategy}, ${took}s)${rollout.result === 'succeeded' ? '' : `: ${rollout.reason}`}\n`);
    return rollout.result === 'succeeded' ? 0 : 1;
  }
  out.write(`Service/${service}: the rollout did not finish within ${Math.round(opts.timeoutMs / 1000)}s; see certitrack-agent status service/${service}\n`);
  return 1;
}
