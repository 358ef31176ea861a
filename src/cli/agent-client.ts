import { existsSync, readFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { join, resolve } from 'node:path';
import { DEFAULTS } from '../config.js';
import { API_TOKEN_FILE } from '../server/api-token.js';
import { parseListen } from '../server/listen-address.js';
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

/** No agent answered where the client looked (nothing listens there): the one error a command may fall back from. */
export class AgentUnreachable extends Error {
  override readonly name = 'AgentUnreachable';
}

/** What GET /v1/info says about the agent that answered. */
export interface AgentInfo {
  instance: string;
  version: string;
  pid?: number;
  stateDir?: string;
  /** The folder it loads its manifests from. */
  manifests?: string;
}

/**
 * The one transport of every client command (status, history, run-now, logs, exec, restart, suspend,
 * resume, backup, restore, cert):
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
  async postJson(path: string, body?: unknown): Promise<Record<string, unknown>> {
    const res = await this.send('POST', path, {}, undefined, body);
    const text = await readAll(res);
    if (res.statusCode !== 200) throw this.failure(res, text);
    return JSON.parse(text) as Record<string, unknown>;
  }

  /** POST with an NDJSON answer: progress lines go to `onProgress`, the final result is returned. */
  async postStreaming(path: string, onProgress: (p: unknown) => void, body?: unknown): Promise<unknown> {
    const res = await this.send('POST', path, { accept: 'application/x-ndjson' }, undefined, body);
    if (res.statusCode !== 200) throw this.failure(res, await readAll(res));
    let outcome: { result: unknown } | undefined;
    let failure: Error | undefined;
    await forEachLine(res, (line) => {
      if (outcome || failure) return;
      const msg = JSON.parse(line) as { progress?: unknown; result?: unknown; error?: string; details?: unknown };
      if (msg.error !== undefined) failure = Object.assign(new Error(msg.error), msg.details !== undefined ? { details: msg.details } : {});
      else if ('result' in msg) outcome = { result: msg.result };
      else onProgress(msg.progress);
    }, () => failure !== undefined || outcome !== undefined);
    if (failure) throw failure;
    if (outcome) return outcome.result;
    throw new Error('the agent closed the connection before the work finished');
  }

  /** GET with an NDJSON answer that may never end (`logs -f`): every line to `onLine` until the agent ends it or `signal` aborts. */
  async getLines(path: string, onLine: (line: string) => void, signal?: AbortSignal): Promise<void> {
    const res = await this.send('GET', path, { accept: 'application/x-ndjson' }, undefined, undefined, signal);
    if (res.statusCode !== 200) throw this.failure(res, await readAll(res));
    signal?.addEventListener('abort', () => res.destroy(), { once: true });
    await forEachLine(res, onLine, () => signal?.aborted === true).catch((err: unknown) => {
      if (!signal?.aborted) throw err;
    });
  }

  /**
   * An HTTP upgrade to the agent's own framed protocol (`exec`): resolves with the raw connection
   * once the agent answered 101, or throws the agent's reason.
   */
  upgrade(path: string, protocol: string): Promise<{ socket: Duplex; head: Buffer }> {
    const { target, headers } = this.requestParts({ connection: 'Upgrade', upgrade: protocol });
    return new Promise((resolvePromise, reject) => {
      const req = request({ ...target, method: 'POST', path, headers });
      req.on('upgrade', (_res, socket, head) => resolvePromise({ socket, head }));
      req.on('response', (res) => void readAll(res).then((text) => reject(this.failure(res, text)), reject));
      req.on('error', (err) => reject(this.unreachable(err)));
      req.end();
    });
  }

  /** GET /v1/info, and with `instance` a check that the agent that answered is that instance. */
  async info(instance?: string): Promise<AgentInfo> {
    const info = await this.getJson<AgentInfo>('/v1/info');
    if (instance !== undefined && info.instance !== instance) {
      throw new Error(`${this.describe()} is agent instance "${info.instance}", not "${instance}"; pass the --state-dir (or --listen) of the agent you mean`);
    }
    return info;
  }

  private requestParts(headers: Record<string, string>): { target: { socketPath: string } | { host: string; port: number }; headers: Record<string, string> } {
    const e = this.endpoint;
    const auth: Record<string, string> = e.kind === 'tcp' && e.token ? { authorization: `Bearer ${e.token}` } : {};
    const target = e.kind === 'socket' ? { socketPath: e.path } : { host: e.host, port: e.port };
    return { target, headers: { ...headers, ...auth, host: e.kind === 'socket' ? 'localhost' : `${e.host}:${e.port}` } };
  }

  private unreachable(err: Error): AgentUnreachable {
    return new AgentUnreachable(`cannot reach the agent at ${this.describe()} (${err.message}); is it running, and are --state-dir / --listen the same?`);
  }

  private send(method: string, path: string, headers: Record<string, string>, timeoutMs?: number, body?: unknown, signal?: AbortSignal): Promise<IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const parts = this.requestParts(payload === undefined ? headers : { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) });
    return new Promise((resolvePromise, reject) => {
      const req = request({ ...parts.target, method, path, headers: parts.headers, ...(signal ? { signal } : {}) }, resolvePromise);
      if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
      // Only a connection that never opened means "no agent there"; anything after is the agent's failure.
      req.on('error', (err: NodeJS.ErrnoException) => reject(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'EACCES'].includes(err.code ?? '') ? this.unreachable(err) : new Error(`the agent at ${this.describe()}: ${err.message}`)));
      req.end(payload);
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

/** Calls `onLine` for every line of the answer, until it ends or `done()` says the rest is not wanted. */
async function forEachLine(res: IncomingMessage, onLine: (line: string) => void, done: () => boolean): Promise<void> {
  const lines = new LineSplitter(onLine);
  res.setEncoding('utf8');
  for await (const chunk of res) {
    lines.push(chunk as string);
    if (done()) {
      res.destroy();
      return;
    }
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
