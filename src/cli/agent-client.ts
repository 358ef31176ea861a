import { existsSync, readFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { join, resolve } from 'node:path';
import { DEFAULTS } from '../config.js';
import { API_TOKEN_FILE } from '../server/api-token.js';
import { parseListen } from '../server/http-server.js';
import { AGENT_SOCKET_FILE } from '../server/unix-socket.js';
import { LineSplitter } from '../util/line-splitter.js';

/** Where a client command reaches the agent: its root-only socket, or TCP with the API token. */
export type AgentEndpoint = { kind: 'socket'; path: string } | { kind: 'tcp'; host: string; port: number; token: string | undefined; tokenFile: string };

export interface ClientFlags {
  stateDir?: string;
  /** Given: TCP to this address. Not given: the socket when it exists, else TCP to the default address. */
  listen?: string;
  tokenFile?: string;
}

/**
 * The agent's socket in its state dir (--state-dir, CERTITRACK_STATE_DIR, default
 * /var/lib/certitrack-agent) when it exists and no --listen was given; otherwise TCP, with the API
 * token from <state-dir>/api.token (or --token-file) when this user can read it. So root on the
 * host needs no flags at all.
 */
export function resolveEndpoint(flags: ClientFlags, env: NodeJS.ProcessEnv = process.env): AgentEndpoint {
  const stateDir = resolve(flags.stateDir ?? env.CERTITRACK_STATE_DIR ?? DEFAULTS.stateDir);
  const socket = join(stateDir, AGENT_SOCKET_FILE);
  if (flags.listen === undefined && existsSync(socket)) return { kind: 'socket', path: socket };
  const { host, port } = parseListen(flags.listen ?? env.CERTITRACK_LISTEN ?? DEFAULTS.listen);
  const tokenFile = resolve(flags.tokenFile ?? join(stateDir, API_TOKEN_FILE));
  let token: string | undefined;
  try {
    token = readFileSync(tokenFile, 'utf8').trim() || undefined;
  } catch {
    token = undefined;
  }
  return { kind: 'tcp', host: host === '0.0.0.0' ? '127.0.0.1' : host, port, token, tokenFile };
}

/** What GET /v1/info says about the agent that answered. */
export interface AgentInfo {
  instance: string;
  version: string;
  pid?: number;
  stateDir?: string;
}

/**
 * The one transport of every client command (status, run-now, backup run, cert list, cert renew):
 * plain node:http over the Unix socket or TCP, JSON in and out, NDJSON streams for long work.
 * Errors say where it tried and what to do.
 */
export class AgentClient {
  constructor(readonly endpoint: AgentEndpoint) {}

  static from(flags: ClientFlags, env?: NodeJS.ProcessEnv): AgentClient {
    return new AgentClient(resolveEndpoint(flags, env));
  }

  /** "the agent socket /var/lib/…/agent.sock" or "http://127.0.0.1:9464", for messages. */
  describe(): string {
    const e = this.endpoint;
    return e.kind === 'socket' ? `the agent socket ${e.path}` : `http://${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
  }

  async getJson<T>(path: string, timeoutMs = 5000): Promise<T> {
    const res = await this.send('GET', path, {}, timeoutMs);
    const body = await readAll(res);
    if (res.statusCode !== 200) throw this.failure(res, body);
    return JSON.parse(body) as T;
  }

  /** POST that answers with one JSON document once the work is done; an error status throws the agent's reason. */
  async postJson(path: string): Promise<Record<string, unknown>> {
    const res = await this.send('POST', path, {});
    const body = await readAll(res);
    if (res.statusCode !== 200) throw this.failure(res, body);
    return JSON.parse(body) as Record<string, unknown>;
  }

  /** POST with an NDJSON answer: progress lines go to `onProgress`, the final result is returned. */
  async postStreaming(path: string, onProgress: (p: unknown) => void): Promise<unknown> {
    const res = await this.send('POST', path, { accept: 'application/x-ndjson' });
    if (res.statusCode !== 200) throw this.failure(res, await readAll(res));
    let outcome: { result: unknown } | undefined;
    let failure: Error | undefined;
    const lines = new LineSplitter((line) => {
      if (outcome || failure) return;
      const msg = JSON.parse(line) as { progress?: unknown; result?: unknown; error?: string };
      if (msg.error !== undefined) failure = new Error(msg.error);
      else if ('result' in msg) outcome = { result: msg.result };
      else onProgress(msg.progress);
    });
    res.setEncoding('utf8');
    for await (const chunk of res) {
      lines.push(chunk as string);
      if (failure) throw failure;
      if (outcome) return outcome.result;
    }
    throw new Error('the agent closed the connection before the work finished');
  }

  /** GET /v1/info, and with `instance` a check that the agent that answered is that instance. */
  async info(instance?: string): Promise<AgentInfo> {
    const info = await this.getJson<AgentInfo>('/v1/info');
    if (instance !== undefined && info.instance !== instance) {
      throw new Error(`${this.describe()} is agent instance "${info.instance}", not "${instance}"; pass the --state-dir (or --listen) of the agent you mean`);
    }
    return info;
  }

  private send(method: string, path: string, headers: Record<string, string>, timeoutMs?: number): Promise<IncomingMessage> {
    const e = this.endpoint;
    const auth = e.kind === 'tcp' && e.token ? { authorization: `Bearer ${e.token}` } : {};
    const target = e.kind === 'socket' ? { socketPath: e.path } : { host: e.host, port: e.port };
    return new Promise((resolvePromise, reject) => {
      const req = request({ ...target, method, path, headers: { ...headers, ...auth, host: e.kind === 'socket' ? 'localhost' : `${e.host}:${e.port}` } }, resolvePromise);
      if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
      req.on('error', (err) => reject(new Error(`cannot reach the agent at ${this.describe()} (${err.message}); is it running, and are --state-dir / --listen the same?`)));
      req.end();
    });
  }

  private failure(res: IncomingMessage, body: string): Error {
    let reason: string;
    try {
      reason = String((JSON.parse(body) as { error?: unknown }).error ?? body.trim());
    } catch {
      reason = body.trim();
    }
    const e = this.endpoint;
    if (res.statusCode === 401 && e.kind === 'tcp') {
      return new Error(`${this.describe()} refused: ${e.token ? 'the API token in' : 'no API token could be read from'} ${e.tokenFile}${e.token ? ' is not the agent\'s' : ''}; run as root on the agent's host (its socket needs no token), or pass --state-dir / --token-file`);
    }
    return new Error(reason || `the agent at ${this.describe()} answered ${res.statusCode}`);
  }
}

async function readAll(res: IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let out = '';
  for await (const chunk of res) out += chunk as string;
  return out;
}

/** The path of the trigger of KIND/NAME. */
export const triggerPath = (kind: string, name: string): string => `/v1/trigger/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`;
