import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type Dockerode from 'dockerode';

/** The fields of docker-modem that say where the engine is (its own type is `any`). */
interface ModemAddress {
  /** A function when docker-modem looks for the default socket itself (it may answer with a promise). */
  socketPath?: string | (() => string | Promise<string>);
  host?: string;
  port?: number | string;
  protocol?: string;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  version?: string;
}

/**
 * Opens a connection to the engine whose every read is handed to `onRead` as a view of `buffer`,
 * valid only during the call (the next read overwrites it); resolves once it can be written to.
 */
export type EngineDialer = (buffer: Buffer, onRead: (view: Buffer) => void) => Promise<Socket>;

export interface EngineSocket {
  dial: EngineDialer;
  /** What goes before every API path (`/v1.43` when the client pins a version). */
  pathPrefix: string;
}

/**
 * A raw connection to the same engine, over the same transport (Unix socket, TCP, TLS with the
 * same client certificate), as a dockerode client: for the streams the agent reads itself rather
 * than through docker-modem's HTTP stack (exec-stream.ts says why).
 */
export function engineSocketOf(docker: Dockerode): EngineSocket {
  const m = (docker as unknown as { modem: ModemAddress }).modem;
  const tls = m.socketPath === undefined && m.protocol === 'https';
  let socketPathOnce: Promise<string | undefined> | undefined;
  const dial: EngineDialer = async (buffer, onRead) => {
    socketPathOnce ??= Promise.resolve(typeof m.socketPath === 'function' ? m.socketPath() : m.socketPath);
    const socketPath = await socketPathOnce;
    return new Promise((resolve, reject) => {
      const onread = { buffer, callback: (n: number): boolean => (onRead(buffer.subarray(0, n)), true) };
      let sock: Socket;
      if (socketPath) sock = netConnect({ path: socketPath, onread });
      else if (!tls) sock = netConnect({ host: m.host as string, port: Number(m.port), onread });
      else {
        // Decrypted data comes as chunks of its own over TLS: no read buffer to reuse there.
        sock = tlsConnect({ host: m.host, port: Number(m.port), ...(m.ca ? { ca: m.ca } : {}), ...(m.cert ? { cert: m.cert } : {}), ...(m.key ? { key: m.key } : {}) });
        sock.on('data', (chunk: Buffer) => onRead(chunk));
      }
      const onError = (err: Error): void => reject(err);
      sock.once('error', onError);
      sock.once(tls ? 'secureConnect' : 'connect', () => {
        sock.off('error', onError);
        resolve(sock);
      });
    });
  };
  return { dial, pathPrefix: m.version ? `/${m.version}` : '' };
}
