import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Registry } from 'prom-client';
import { scrubbedJson } from '../log.js';
import { bearerMatches } from './api-token.js';
import type { RequestRejections } from './rejections.js';
import { listenOnSocket, removeSocket } from './unix-socket.js';

/** A route handler; returns false when it does not answer this request after all (then 404). */
export type Handler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export interface ListenAddress {
  host: string;
  port: number;
}

/** "127.0.0.1:9464", "[::1]:9464", ":9464" (all interfaces: must be asked for explicitly). */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  if (!m) throw new Error(`--listen: expected HOST:PORT, got "${text}"`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port: Number(m[3]) };
}

export interface RouteOptions {
  /** The path, or a prefix ending in "/". */
  path: string;
  /** Over TCP, anyone may call an open route; a token route needs the API token. The Unix socket is root's: everything. */
  access: 'open' | 'token';
  /** Authenticated by its own protocol or public by design (ACME http-01, the signed webhook): any Host header. */
  anyHost?: boolean;
  /** The handler reads and limits its own body (the webhook); every other route accepts at most MAX_BODY_BYTES. */
  ownBody?: boolean;
}

interface Route extends RouteOptions {
  handler: Handler;
}

export interface ServerSecurity {
  /** The bearer token of token routes over TCP (`<state-dir>/api.token`). */
  token: string;
  /** Host names accepted besides the listener's own address (--allowed-host). */
  allowedHosts: readonly string[];
  rejections: RequestRejections;
  /** Applied to every string of a JSON answer: secrets never leave, whatever reached the status. */
  scrub: (text: string) => string;
}

/** Control routes take no body; a few KiB is already generous. */
export const MAX_BODY_BYTES = 16 * 1024;
/** Node's defaults wait far too long for a slow client; these bound every half-open connection. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const CHECK_INTERVAL_MS = 2_000;
/** Prometheus, nginx and a few CLIs: a few hundred connections is already an attack. */
const MAX_TCP_CONNECTIONS = 256;
/** The socket is root's alone, and separate: a flood on TCP never locks root out. */
const MAX_SOCKET_CONNECTIONS = 64;

type Transport = 'tcp' | 'unix';

/**
 * The agent's HTTP API, served twice: on the TCP listener (loopback by default), where only the
 * probes, metrics, ACME and the signed webhook are open and everything else needs the API token and
 * a Host header naming this listener; and on `<state-dir>/agent.sock`, mode 0600, where root may
 * call everything without a token (docs/security.md).
 */
export class AgentHttpServer {
  private readonly tcp: Server;
  private readonly unix: Server;
  private readonly routes: Route[] = [];
  private socketPath: string | undefined;

  constructor(
    private readonly deps: {
      /** Exposed together on /metrics: the process-wide one and the agent's own. */
      registries: readonly Registry[];
      healthz: () => { ok: boolean; detail: Record<string, unknown> };
      readyz: () => { ok: boolean; detail: Record<string, unknown> };
      status: () => unknown;
      /** Who answered: instance name and version, so a client can check it reached the agent it meant. */
      info: () => Record<string, unknown>;
      security: ServerSecurity;
    },
  ) {
    this.tcp = this.create('tcp', MAX_TCP_CONNECTIONS);
    this.unix = this.create('unix', MAX_SOCKET_CONNECTIONS);
    const json = (body: () => unknown) => (_req: IncomingMessage, res: ServerResponse) => {
      send(res, 200, 'application/json', scrubbedJson(body(), deps.security.scrub, 2) + '\n');
      return true;
    };
    const probe = (check: () => { ok: boolean; detail: Record<string, unknown> }, good: string, bad: string) => (_req: IncomingMessage, res: ServerResponse) => {
      const r = check();
      send(res, r.ok ? 200 : 503, 'application/json', JSON.stringify({ status: r.ok ? good : bad, ...r.detail }) + '\n');
      return true;
    };
    this.mount(getOnly(probe(deps.healthz, 'ok', 'failing')), { path: '/healthz', access: 'open' });
    this.mount(getOnly(probe(deps.healthz, 'ok', 'failing')), { path: '/health', access: 'open' });
    this.mount(getOnly(probe(deps.readyz, 'ready', 'not ready')), { path: '/readyz', access: 'open' });
    this.mount(
      getOnly(async (_req, res) => {
        // Merged per scrape, so metrics registered after the server was built are included.
        const merged = Registry.merge([...deps.registries]);
        send(res, 200, merged.contentType, await merged.metrics());
        return true;
      }),
      { path: '/metrics', access: 'open' },
    );
    this.mount(getOnly(json(deps.status)), { path: '/status', access: 'token' });
    this.mount(getOnly(json(deps.info)), { path: '/v1/info', access: 'token' });
  }

  mount(handler: Handler, opts: RouteOptions): void {
    this.routes.push({ ...opts, handler });
  }

  async listen(addr: ListenAddress): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen(addr.port, addr.host, () => {
        this.tcp.off('error', reject);
        resolve();
      });
    });
    return this.tcp.address() as AddressInfo;
  }

  /** Serves the whole API on a root-only Unix socket (created 0600, a stale one from a dead agent replaced). */
  async listenSocket(path: string): Promise<void> {
    await listenOnSocket(this.unix, path);
    this.socketPath = path;
  }

  async close(): Promise<void> {
    await Promise.all(
      [this.tcp, this.unix].map(
        (s) =>
          new Promise<void>((resolve) => {
            if (!s.listening) return resolve();
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
    if (this.socketPath) await removeSocket(this.socketPath);
  }

  private create(transport: Transport, maxConnections: number): Server {
    const server = createServer({ connectionsCheckingInterval: CHECK_INTERVAL_MS, requireHostHeader: transport === 'tcp' }, (req, res) => void this.route(req, res, transport));
    server.headersTimeout = HEADERS_TIMEOUT_MS;
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    server.maxConnections = maxConnections;
    server.on('drop', (data?: { remoteAddress?: string }) => this.deps.security.rejections.reject('connection_limit', data?.remoteAddress));
    // headersTimeout runs only once a request has begun: a connection that never sends a byte is
    // closed by this idle timer instead, which the first request clears (keepAliveTimeout covers
    // the idle time after a response).
    server.on('connection', (socket: Socket) => socket.setTimeout(HEADERS_TIMEOUT_MS, () => socket.destroy()));
    server.on('request', (req: IncomingMessage) => req.socket.setTimeout(0));
    return server;
  }

  private find(path: string): Route | undefined {
    return this.routes.find((r) => (r.path.endsWith('/') ? path.startsWith(r.path) : path === r.path));
  }

  private async route(req: IncomingMessage, res: ServerResponse, transport: Transport): Promise<void> {
    const { rejections, token } = this.deps.security;
    const remote = req.socket.remoteAddress;
    try {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const route = this.find(path);
      if (transport === 'tcp') {
        if (!route?.anyHost && !this.hostAllowed(req)) {
          rejections.reject('host', remote);
          return sendJson(res, 421, { error: 'misdirected request: the Host header does not name this listener (see --allowed-host)' });
        }
        if (route?.access === 'token' && !bearerMatches(req.headers.authorization, token)) {
          rejections.reject('auth', remote);
          res.setHeader('www-authenticate', 'Bearer');
          return sendJson(res, 401, { error: 'unauthorized: this route needs the API token (root: use the agent socket, or the token in <state-dir>/api.token)' });
        }
      }
      if (!route?.ownBody && !limitBody(req, res, () => rejections.reject('body_too_large', remote))) return;
      if (route && (await route.handler(req, res))) return;
      send(res, 404, 'text/plain', 'not found\n');
    } catch (err) {
      if (!res.headersSent) send(res, 500, 'text/plain', `internal error: ${this.deps.security.scrub((err as Error).message)}\n`);
      else res.destroy();
    }
  }

  /**
   * The Host header must name this listener (the address the client connected to, or localhost on
   * loopback) or a configured name: a page in a browser that rebinds its own name to 127.0.0.1 sends
   * its own name, and is refused.
   */
  private hostAllowed(req: IncomingMessage): boolean {
    const host = (req.headers.host ?? '').toLowerCase();
    if (host === '') return false;
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0] ?? '';
    if (this.deps.security.allowedHosts.some((h) => h.toLowerCase() === host || h.toLowerCase() === name)) return true;
    const local = (req.socket.localAddress ?? '').replace(/^::ffff:/, '');
    const port = req.socket.localPort;
    const own = [`${local}:${port}`, `[${local}]:${port}`];
    if (local.startsWith('127.') || local === '::1') own.push(`localhost:${port}`);
    return own.includes(host);
  }
}

function getOnly(handler: Handler): Handler {
  return (req, res) => {
    if (req.method === 'GET' || req.method === 'HEAD') return handler(req, res);
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, 'text/plain', 'method not allowed\n');
    return true;
  };
}

/** Refuses a body over MAX_BODY_BYTES on a route that takes none: by its declared length, or while it streams. */
function limitBody(req: IncomingMessage, res: ServerResponse, onReject: () => void): boolean {
  const declared = Number(req.headers['content-length'] ?? 0);
  const tooLarge = (): void => {
    onReject();
    res.setHeader('connection', 'close');
    sendJson(res, 413, { error: `body too large (at most ${MAX_BODY_BYTES} bytes)` });
    req.destroy();
  };
  if (declared > MAX_BODY_BYTES) {
    tooLarge();
    return false;
  }
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES && !res.headersSent) tooLarge();
    else if (size > MAX_BODY_BYTES) req.destroy();
  });
  return true;
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  send(res, code, 'application/json', JSON.stringify(body) + '\n');
}
