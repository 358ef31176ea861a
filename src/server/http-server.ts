import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Registry } from 'prom-client';
import { scrubbedJson } from '../log.js';
import { bearerMatches } from './api-token.js';
import type { RequestRejections } from './rejections.js';
import { listenOnSocket, removeSocket } from './unix-socket.js';

/** A route handler; returns false when it does not answer this request after all (then 404). */
export type Handler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

// Kept apart so that the CLI's clients and config can parse an address without loading the server.
export { type ListenAddress, parseListen } from './listen-address.js';
import type { ListenAddress } from './listen-address.js';

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

/**
 * A route that takes the connection over (HTTP Upgrade, as Docker's attach does): it answers 101
 * itself and owns the socket from then on; throwing before that answers 409 with the message.
 */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>;

interface UpgradeRoute {
  path: string;
  handler: UpgradeHandler;
}

/** Why a request may not reach its route: status, JSON body, headers. */
interface Refusal {
  code: number;
  body: { error: string };
  headers?: Record<string, string>;
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
  private readonly upgrades: UpgradeRoute[] = [];
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

  /** An upgrade route under `path` (a prefix ending in "/"): always a token route, never any Host. */
  mountUpgrade(handler: UpgradeHandler, path: string): void {
    this.upgrades.push({ path, handler });
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
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.routeUpgrade(req, socket, head, transport));
    return server;
  }

  private find(path: string): Route | undefined {
    return this.routes.find((r) => (r.path.endsWith('/') ? path.startsWith(r.path) : path === r.path));
  }

  /** On TCP: the Host must name this listener (unless the route takes any), and a token route needs the token. */
  private admit(req: IncomingMessage, route: { access: 'open' | 'token'; anyHost?: boolean } | undefined, transport: Transport): Refusal | undefined {
    if (transport !== 'tcp') return undefined;
    const { rejections, token } = this.deps.security;
    const remote = req.socket.remoteAddress;
    if (!route?.anyHost && !this.hostAllowed(req)) {
      rejections.reject('host', remote);
      return { code: 421, body: { error: 'misdirected request: the Host header does not name this listener (see --allowed-host)' } };
    }
    if (route?.access === 'token' && !bearerMatches(req.headers.authorization, token)) {
      rejections.reject('auth', remote);
      return { code: 401, body: { error: 'unauthorized: this route needs the API token (root: use the agent socket, or the token in <state-dir>/api.token)' }, headers: { 'www-authenticate': 'Bearer' } };
    }
    return undefined;
  }

  private async route(req: IncomingMessage, res: ServerResponse, transport: Transport): Promise<void> {
    const { rejections } = this.deps.security;
    const remote = req.socket.remoteAddress;
    try {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const route = this.find(path);
      const refused = this.admit(req, route, transport);
      if (refused) {
        for (const [k, v] of Object.entries(refused.headers ?? {})) res.setHeader(k, v);
        return sendJson(res, refused.code, refused.body);
      }
      if (!route?.ownBody && !limitBody(req, res, () => rejections.reject('body_too_large', remote))) return;
      if (route && (await route.handler(req, res))) return;
      send(res, 404, 'text/plain', 'not found\n');
    } catch (err) {
      if (!res.headersSent) send(res, 500, 'text/plain', `internal error: ${this.deps.security.scrub((err as Error).message)}\n`);
      else res.destroy();
    }
  }

  private async routeUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, transport: Transport): Promise<void> {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = this.upgrades.find((r) => path.startsWith(r.path));
    const refused = this.admit(req, { access: 'token' }, transport) ?? (route ? undefined : { code: 404, body: { error: `nothing to upgrade to at ${path}` } });
    if (refused || !route) return refuseUpgrade(socket, refused ?? { code: 404, body: { error: 'not found' } });
    // The request is in; the connection is the handler's for as long as the session lasts.
    req.socket.setTimeout(0);
    try {
      await route.handler(req, socket, head);
    } catch (err) {
      refuseUpgrade(socket, { code: 409, body: { error: this.deps.security.scrub((err as Error).message) } });
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

/** An upgrade refused before it began: a plain HTTP answer on the raw socket, then close. */
function refuseUpgrade(socket: Duplex, r: Refusal): void {
  if (!socket.writable) return;
  const body = JSON.stringify(r.body) + '\n';
  const headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), connection: 'close', ...r.headers };
  socket.end(`HTTP/1.1 ${r.code} ${STATUS_CODES[r.code] ?? ''}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`);
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
