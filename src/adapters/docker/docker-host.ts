import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Dockerode from 'dockerode';

/** Where the engine is: a Unix socket, or TCP (TLS when DOCKER_TLS_VERIFY=1, as the docker CLI). */
export type DockerEndpoint = { socketPath: string } | { host: string; port: number; tls: { certPath: string | undefined } | undefined };

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/**
 * The engine the docker CLI would talk to: DOCKER_HOST (`unix:///path`, `tcp://host:port`, with
 * DOCKER_TLS_VERIFY and DOCKER_CERT_PATH for TLS), else DOCKER_SOCKET, else the default socket.
 * Anything else (ssh://, npipe://) is an error naming the variable, rather than a silent fallback
 * to another engine.
 */
export function dockerEndpointFrom(env: NodeJS.ProcessEnv): DockerEndpoint {
  const host = env.DOCKER_HOST?.trim();
  if (!host) return { socketPath: env.DOCKER_SOCKET || DEFAULT_DOCKER_SOCKET };
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) || DEFAULT_DOCKER_SOCKET };
  let url: URL;
  try {
    url = new URL(host.includes('://') ? host : `tcp://${host}`);
  } catch {
    throw new Error(`DOCKER_HOST: "${host}" is not unix:///path or tcp://host:port`);
  }
  if (url.protocol !== 'tcp:' || !url.hostname) throw new Error(`DOCKER_HOST: "${host}": only unix:// and tcp:// engines are supported`);
  const tls = env.DOCKER_TLS_VERIFY === '1';
  const port = url.port ? Number(url.port) : tls ? 2376 : 2375;
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port, tls: tls ? { certPath: env.DOCKER_CERT_PATH || undefined } : undefined };
}

/** The dockerode options for an endpoint (reads the TLS client certificate files, as the docker CLI does). */
export function dockerodeOptions(endpoint: DockerEndpoint): Dockerode.DockerOptions {
  if ('socketPath' in endpoint) return { socketPath: endpoint.socketPath };
  if (!endpoint.tls) return { host: endpoint.host, port: endpoint.port, protocol: 'http' };
  const dir = endpoint.tls.certPath;
  const read = (file: string): Buffer => readFileSync(join(dir as string, file));
  return { host: endpoint.host, port: endpoint.port, protocol: 'https', ...(dir ? { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') } : {}) };
}

