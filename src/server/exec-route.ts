import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ContainerClient, SessionClient } from '../adapters/docker/index.js';
import type { Ownership } from '../reconcilers/ownership.js';
import { EXEC_PROTOCOL, FRAME, frame, FrameReader } from './exec-protocol.js';
import type { UpgradeHandler } from './http-server.js';
import { SERVICE_NAME } from './service-containers.js';

export const EXEC_PREFIX = '/v1/exec/';

export interface ExecRouteDeps {
  containers: Pick<ContainerClient, 'inspect'>;
  sessions: Pick<SessionClient, 'attach'>;
  own: Ownership;
  log?: { info(obj: object, msg: string): void };
}

/**
 * `POST /v1/exec/<service>?cmd=…&cmd=…[&tty=1]` with `Upgrade: certitrack-exec`: runs the
 * command in the container serving the service (during a StartFirst rollout, still the old one,
 * as traffic is) and relays the session over the upgraded connection (exec-protocol.ts): stdin,
 * terminal size and the end of stdin in; stdout, stderr and finally the exit code out. What
 * flows is the operator's own session and is not scrubbed (they can run `env` anyway).
 */
export function createExecRoute(deps: ExecRouteDeps): UpgradeHandler {
  return async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    const service = decodeURIComponent(url.pathname.slice(EXEC_PREFIX.length));
    const cmd = url.searchParams.getAll('cmd');
    const tty = url.searchParams.get('tty') === '1';
    if (req.method !== 'POST' || (req.headers.upgrade ?? '').toLowerCase() !== EXEC_PROTOCOL) throw new Error(`POST with Upgrade: ${EXEC_PROTOCOL}`);
    if (!SERVICE_NAME.test(service)) throw new Error('expected /v1/exec/<service>');
    if (cmd.length === 0) throw new Error('no command: give cmd=… (certitrack-agent exec SERVICE -- CMD…)');
    const c = await deps.containers.inspect(deps.own.dockerName(service));
    if (!c || !deps.own.owns(c.labels)) throw new Error(`Service/${service} has no container`);
    if (!c.running) throw new Error(`Service/${service}'s container ${c.name} is not running (${c.state})`);
    const session = await deps.sessions.attach(c.id, { cmd, tty, stdin: true });
    const cols = Number(url.searchParams.get('cols'));
    const rows = Number(url.searchParams.get('rows'));
    if (tty && cols > 0 && rows > 0) await session.resize(cols, rows).catch(() => undefined);
    deps.log?.info({ service, container: c.name, command: cmd[0], tty }, 'exec session started by an operator');

    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${EXEC_PROTOCOL}\r\nconnection: Upgrade\r\n\r\n`);
    const out = session.stream;
    const input = new FrameReader((type, payload) => {
      if (type === FRAME.stdin) out.write(payload);
      else if (type === FRAME.stdinEnd) out.end();
      else if (type === FRAME.resize) {
        const size = JSON.parse(payload.toString('utf8')) as { cols?: unknown; rows?: unknown };
        if (typeof size.cols === 'number' && typeof size.rows === 'number') void session.resize(size.cols, size.rows).catch(() => undefined);
      }
    });
    if (head.length > 0) input.push(head);
    socket.on('data', (chunk: Buffer) => input.push(chunk));
    // The person went away: the command's streams go too.
    socket.on('close', () => out.destroy());
    out.on('data', (chunk: Buffer) => {
      // Without a TTY Docker's stream is already framed as stdout/stderr; with one it is raw output.
      if (!socket.write(tty ? frame(FRAME.stdout, chunk) : chunk)) {
        out.pause();
        socket.once('drain', () => out.resume());
      }
    });
    await new Promise<void>((resolve) => {
      out.once('close', resolve);
      out.once('end', resolve);
      out.once('error', resolve);
    });
    const result = await session.exitCode().then(
      (exitCode) => ({ exitCode }),
      (err: unknown) => ({ error: (err as Error).message }),
    );
    if (socket.writable) socket.end(frame(FRAME.exit, JSON.stringify(result)));
  };
}
