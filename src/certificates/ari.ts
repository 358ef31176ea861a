import { sha256Hex } from '../util/hash.js';
import { getText } from './acme-http.js';

/** A CA's suggested renewal window for one certificate (RFC 9773, ACME Renewal Information). */
export interface RenewalWindow {
  start: string;
  end: string;
  explanationUrl?: string;
  /** When to ask again (the response's Retry-After, bounded). */
  checkAgainAt: string;
}

const DEFAULT_RECHECK_MS = 6 * 3_600_000;
const MIN_RECHECK_MS = 60_000;
const MAX_RECHECK_MS = 24 * 3_600_000;

const b64url = (bytes: ArrayBuffer | Buffer): string => Buffer.from(bytes as ArrayBuffer).toString('base64url');

/** The certificate's ARI identifier: base64url(authority key id) "." base64url(serial DER bytes). */
export async function ariCertId(leafPem: string): Promise<string> {
  // Loaded on use: only a renewal check needs it, and it is large.
  const x509 = await import('@peculiar/x509');
  const cert = new x509.X509Certificate(leafPem);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (!aki?.keyId) throw new Error('certificate has no authority key identifier; ARI cannot name it');
  return `${b64url(Buffer.from(aki.keyId, 'hex'))}.${b64url(serialDerBytes(cert.serialNumber))}`;
}

/**
 * The serial as its DER INTEGER content: libraries print it without leading zero bytes, but a
 * positive serial whose first byte has the high bit set is encoded with a 0x00 in front, and ARI
 * names the certificate by those exact bytes.
 */
function serialDerBytes(hex: string): Buffer {
  let h = hex.replace(/^(00)+/, '');
  if (h.length % 2) h = '0' + h;
  const bytes = Buffer.from(h || '00', 'hex');
  return (bytes[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}

/**
 * Asks the CA when to renew. Undefined when the directory offers no renewalInfo endpoint (the agent
 * then uses two thirds of the lifetime). Throws on network or protocol errors; callers treat that
 * as "no advice this time", never as a reason to renew.
 */
export async function fetchRenewalWindow(directoryUrl: string, leafPem: string, now: Date): Promise<RenewalWindow | undefined> {
  const dir = await getText(directoryUrl);
  if (dir.status !== 200) throw new Error(`ACME directory answered HTTP ${dir.status}`);
  const base = (JSON.parse(dir.body) as { renewalInfo?: unknown }).renewalInfo;
  if (typeof base !== 'string' || base === '') return undefined;
  const res = await getText(`${base.replace(/\/$/, '')}/${await ariCertId(leafPem)}`);
  if (res.status !== 200) throw new Error(`renewalInfo answered HTTP ${res.status}`);
  const data = JSON.parse(res.body) as { suggestedWindow?: { start?: string; end?: string }; explanationURL?: string };
  const start = Date.parse(data.suggestedWindow?.start ?? '');
  const end = Date.parse(data.suggestedWindow?.end ?? '');
  if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) throw new Error('renewalInfo response has no valid suggestedWindow');
  const retryAfter = Number(res.headers['retry-after']);
  const recheck = Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(Math.max(retryAfter * 1000, MIN_RECHECK_MS), MAX_RECHECK_MS) : DEFAULT_RECHECK_MS;
  return {
    start: new Date(start).toISOString(),
    end: new Date(end).toISOString(),
    ...(typeof data.explanationURL === 'string' ? { explanationUrl: data.explanationURL } : {}),
    checkAgainAt: new Date(now.getTime() + recheck).toISOString(),
  };
}

/**
 * RFC 9773 asks clients to pick a uniformly random moment inside the window so that a CA's whole
 * fleet does not renew at once; hashing the serial makes that moment random across certificates but
 * stable across restarts and plan/reconcile.
 */
export function pointInWindow(window: Pick<RenewalWindow, 'start' | 'end'>, serial: string): Date {
  const start = Date.parse(window.start);
  const end = Date.parse(window.end);
  const fraction = parseInt(sha256Hex(serial).slice(0, 8), 16) / 0x1_0000_0000;
  return new Date(start + Math.floor((end - start) * fraction));
}
