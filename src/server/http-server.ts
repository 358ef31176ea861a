import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';

/** A route handler; returns false to let the next one try (used by the ACME responder and hooks). */
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

/**
 * The agent's one HTTP listener: /healthz, /readyz, /metrics, /status and whatever handlers other
 * parts mount (the ACME http-01 responder, the git webhook). Loopback by default.
 */
export class AgentHttpServer {
  private readonly server: Server;
  private readonly handlers: Handler[] = [];

  constructor(
    private readonly deps: {
      /** Exposed together on /metrics: the process-wide one and the agent's own. */
      registries: readonly Registry[];
      healthz: () => { ok: boolean; detail: Record<string, unknown> };
      readyz: () => { ok: boolean; detail: Record<string, unknown> };
      status: () => unknown;
    },
  ) {
    this.server = createServer((req, res) => void this.route(req, res));
    this.server.keepAliveTimeout = 5000;
  }

  mount(handler: Handler): void {
    this.handlers.push(handler);
  }

  async listen(addr: ListenAddress): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(addr.port, addr.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = (req.url ?? '/').split('?')[0];
      for (const h of this.handlers) if (await h(req, res)) return;
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
      switch (path) {
        case '/healthz':
        case '/health': {
          const h = this.deps.healthz();
          return send(res, h.ok ? 200 : 503, 'application/json', JSON.stringify({ status: h.ok ? 'ok' : 'failing', ...h.detail }) + '\n');
        }
        case '/readyz': {
          const r = this.deps.readyz();
          return send(res, r.ok ? 200 : 503, 'application/json', JSON.stringify({ status: r.ok ? 'ready' : 'not ready', ...r.detail }) + '\n');
        }
        case '/metrics': {
          // Merged per scrape, so metrics registered after the server was built are included.
          const merged = Registry.merge([...this.deps.registries]);
          return send(res, 200, merged.contentType, await merged.metrics());
        }
        case '/status':
          return send(res, 200, 'application/json', JSON.stringify(this.deps.status(), null, 2) + '\n');
        default:
          return send(res, 404, 'text/plain', 'not found\n');
      }
    } catch (err) {
      send(res, 500, 'text/plain', `internal error: ${(err as Error).message}\n`);
    }
  }
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
