import type { ResourceStatus } from '../state/status-board.js';
import { parseListen } from '../server/http-server.js';
import { LineSplitter } from '../util/line-splitter.js';
import { formatTable } from './table.js';

interface StatusDocument {
  revision: string;
  appliedRevision: string | null;
  origin: string;
  manifests: { ok: boolean; errors: string[]; at: string } | null;
  resources: ResourceStatus[];
}

/** Asks a running agent for /status and renders it for people or machines. */
export async function fetchStatus(baseUrl: string): Promise<StatusDocument> {
  let res: Response;
  try {
    res = await fetch(`${baseUrl}/status`, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    throw new Error(`cannot reach the agent at ${baseUrl} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}); is it running, and is --listen the same?`);
  }
  if (!res.ok) throw new Error(`agent at ${baseUrl} answered ${res.status}`);
  return (await res.json()) as StatusDocument;
}

/** Asks a running agent to run KIND/NAME now (POST /v1/trigger/...) and returns its answer. */
export async function postTrigger(listen: string, kind: string, name: string): Promise<Record<string, unknown>> {
  const url = `${agentUrl(listen)}/v1/trigger/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST' });
  } catch (err) {
    throw new Error(`cannot reach the agent at ${agentUrl(listen)} (${(err as Error).message}); is it running, and is --listen the same?`);
  }
  const body = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(String(body.error ?? `agent answered ${res.status}`));
  return body;
}

/**
 * The same, streaming: progress lines are handed to `onProgress` as they arrive (NDJSON), and the
 * final result is returned; an error line becomes a thrown error.
 */
export async function postTriggerStreaming(listen: string, kind: string, name: string, onProgress: (p: unknown) => void): Promise<unknown> {
  const url = `${agentUrl(listen)}/v1/trigger/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { accept: 'application/x-ndjson' } });
  } catch (err) {
    throw new Error(`cannot reach the agent at ${agentUrl(listen)} (${(err as Error).message}); is it running, and is --listen the same?`);
  }
  if (!res.ok || !res.body) throw new Error(String(((await res.json()) as { error?: string }).error ?? `agent answered ${res.status}`));
  let outcome: { done: true; result: unknown } | undefined;
  let failure: Error | undefined;
  const lines = new LineSplitter((line) => {
    if (outcome || failure) return;
    const msg = JSON.parse(line) as { progress?: unknown; result?: unknown; error?: string };
    if (msg.error !== undefined) failure = new Error(msg.error);
    else if ('result' in msg) outcome = { done: true, result: msg.result };
    else onProgress(msg.progress);
  });
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    lines.push(decoder.decode(chunk as Uint8Array, { stream: true }));
    if (failure) throw failure;
    if (outcome) return outcome.result;
  }
  throw new Error('the agent closed the connection before the work finished');
}

export function agentUrl(listen: string): string {
  const { host, port } = parseListen(listen);
  const h = host === '0.0.0.0' ? '127.0.0.1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

export function renderStatus(doc: StatusDocument): string {
  const ready = (r: ResourceStatus): string => r.conditions.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
  const reason = (r: ResourceStatus): string => {
    const c = r.conditions.find((x) => x.type === 'Ready');
    return [c?.reason, c?.message].filter(Boolean).join(': ');
  };
  const detail = (r: ResourceStatus): string => {
    const d = r.details;
    if (r.kind === 'Service') return `${d.state ?? ''}${d.health ? ` (${String(d.health)})` : ''} restarts=${String(d.restarts ?? 0)}`;
    return Object.entries(d)
      .filter(([, v]) => v !== undefined && v !== null && typeof v !== 'object')
      .slice(0, 3)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
  };
  let out = `revision ${doc.revision}  applied ${doc.appliedRevision ?? '-'}  source ${doc.origin}\n`;
  if (doc.manifests && !doc.manifests.ok) {
    out += `manifests REJECTED at ${doc.manifests.at} (last good state still applied):\n${doc.manifests.errors.map((e) => `  ${e}`).join('\n')}\n`;
  }
  out += '\n' + formatTable(
    ['KIND', 'NAME', 'READY', 'STATUS', 'DETAIL', 'LAST ERROR'],
    doc.resources.map((r) => [r.kind, r.name, ready(r), reason(r), detail(r), r.lastError?.message ?? '']),
  );
  return out;
}
