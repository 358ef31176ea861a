import { request as httpRequest } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import type AcmeClient from 'acme-client';

/**
 * acme-client sends every request through one module-wide axios instance and takes no CA option.
 * Rather than trusting an extra CA for the whole process (NODE_EXTRA_CA_CERTS), a request
 * interceptor gives requests to a registered ACME server origin an https agent that trusts that
 * server's CA as well as the public roots; every other origin keeps Node's defaults.
 */
const agents = new Map<string, Agent>();
let retries: { maxAttempts: number; delaySeconds: number } | undefined;
/** acme-client once loaded (it is large: only issuing a certificate loads it). */
let loaded: typeof AcmeClient | undefined;

export function trustAcmeServer(directoryUrl: string, caPem: string): void {
  const origin = new URL(directoryUrl).origin;
  agents.set(origin, new Agent({ ca: [...rootCertificates, caPem], keepAlive: false }));
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '';
  }
}

/**
 * acme-client retries refused connections, 429s and 5xx five times, waiting 5, 10, 15, 20 and 25 s:
 * over a minute blocked per attempt while a CA is down. The reconciler has its own persistent
 * backoff, so the agent asks for fewer, shorter in-request retries. Process-wide, like the instance.
 */
export function configureAcmeRetries(opts: { maxAttempts: number; delaySeconds: number }): void {
  retries = opts;
  if (loaded) applyRetries(loaded);
}

function applyRetries(acme: typeof AcmeClient): void {
  if (!retries) return;
  const defaults = acme.axios.defaults as typeof acme.axios.defaults & { acmeSettings?: Record<string, number> };
  defaults.acmeSettings = { ...defaults.acmeSettings, retryMaxAttempts: retries.maxAttempts, retryDefaultDelay: retries.delaySeconds };
}

/** acme-client, loaded on first use, with the per-origin trust and the retry settings installed on its axios instance. */
export async function acmeClient(): Promise<typeof AcmeClient> {
  if (loaded) return loaded;
  const acme = (await import('acme-client')).default;
  if (!loaded) {
    acme.axios.interceptors.request.use((config) => {
      if (config.url) {
        const agent = agents.get(originOf(config.url));
        if (agent) config.httpsAgent = agent;
      }
      return config;
    });
    applyRetries(acme);
    loaded = acme;
  }
  return loaded;
}

export interface HttpText {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A plain GET with the same per-origin trust and no retries, for the agent's own read-only calls
 * (directory probe, ARI). Errors name the cause: ECONNREFUSED, ENOTFOUND, ETIMEDOUT, a TLS error.
 */
export function getText(url: string, timeoutMs = 10_000, maxBytes = 1024 * 1024): Promise<HttpText> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const options = { method: 'GET', timeout: timeoutMs, agent: agents.get(u.origin), headers: { accept: 'application/json' } };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > maxBytes) req.destroy(new Error('response too large'));
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code ?? err.message)));
    req.end();
  });
}

/**
 * A plain GET of the directory before an order. acme-client turns a refused or timed-out connection
 * into "Cannot read properties of undefined" once its retries run out; this names the real cause and
 * costs nothing against the CA's order limits.
 */
export async function probeAcmeDirectory(directoryUrl: string, timeoutMs = 10_000): Promise<void> {
  let res: HttpText;
  try {
    res = await getText(directoryUrl, timeoutMs);
  } catch (err) {
    throw new Error(`cannot reach ACME directory ${directoryUrl}: ${(err as Error).message}`);
  }
  if (res.status < 200 || res.status >= 300) throw new Error(`ACME directory ${directoryUrl} answered HTTP ${res.status}`);
}
