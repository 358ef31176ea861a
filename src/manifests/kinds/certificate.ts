import { z } from 'zod';
import { duration, resourceName, valueOrSecret } from './common.js';

// Both cases accepted (the JSON schema has no case folding); the value is lower-cased.
const DNS_NAME = /^(\*\.)?([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?\.)*[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;

const domainName = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(DNS_NAME, 'expected a DNS name such as certitrack.company.com (a leading "*." only for selfSigned)');

export const LETSENCRYPT_DIRECTORIES = {
  letsencrypt: 'https://acme-v02.api.letsencrypt.org/directory',
  'letsencrypt-staging': 'https://acme-staging-v02.api.letsencrypt.org/directory',
} as const;

const acmeIssuer = z.strictObject({
  /** A directory URL, or Let's Encrypt by name. */
  directory: z.union([z.enum(['letsencrypt', 'letsencrypt-staging']), z.url({ protocol: /^https?$/ })]),
  /** Account contact; the CA sends expiry warnings here. */
  email: z.email(),
  /** External account binding, for CAs that require one (ZeroSSL, Google, step-ca with EAB). */
  eab: z.strictObject({ kid: z.string().min(1), hmacKey: valueOrSecret }).optional(),
  /**
   * acme-client fetches the challenge itself (through the system resolver, from port 80) before asking
   * the CA, which catches a broken nginx route before it costs a failed validation. Skip it for names
   * only the CA's resolver knows (test CAs).
   */
  skipChallengeVerification: z.boolean().default(false),
  /** PEM file of the CA that signed the ACME server's own HTTPS certificate (private CAs, Pebble). */
  caFile: z.string().min(1).optional(),
});

const NINETY_DAYS_MS = 90 * 86_400_000;

const selfSignedIssuer = z
  .strictObject({ validity: duration.default(NINETY_DAYS_MS) })
  .default({ validity: NINETY_DAYS_MS });

const issuer = z.union([z.strictObject({ acme: acmeIssuer }), z.strictObject({ selfSigned: selfSignedIssuer })]);

const SIGNALS = ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGTERM', 'SIGQUIT'] as const;
export const DEFAULT_RELOAD_COMMAND = ['nginx', '-s', 'reload'];

export type ReloadAction = { service: string; command: string[]; signal?: undefined } | { service: string; signal: (typeof SIGNALS)[number]; command?: undefined };

const reload = z.union([
  resourceName.transform((service): ReloadAction => ({ service, command: DEFAULT_RELOAD_COMMAND })),
  z
    .strictObject({
      service: resourceName,
      command: z.array(z.string().min(1)).min(1).optional(),
      signal: z.enum(SIGNALS).optional(),
    })
    .refine((r) => !(r.command && r.signal), { message: 'set command or signal, not both' })
    .transform((r): ReloadAction => (r.signal ? { service: r.service, signal: r.signal } : { service: r.service, command: r.command ?? DEFAULT_RELOAD_COMMAND })),
]);

export type Http01Mode = { mode: 'agent' } | { mode: 'webroot'; path: string };

const http01 = z.union([
  z.literal('agent').transform((): Http01Mode => ({ mode: 'agent' })),
  z.strictObject({ agent: z.strictObject({}) }).transform((): Http01Mode => ({ mode: 'agent' })),
  z
    .strictObject({ webroot: z.strictObject({ path: z.string().min(1) }) })
    .transform((w): Http01Mode => ({ mode: 'webroot', path: w.webroot.path })),
]);

export const certificateSpec = z
  .strictObject({
    /** Subject alternative names; the first is also the subject's common name. */
    domains: z
      .array(domainName)
      .min(1)
      .max(100)
      .refine((d) => new Set(d).size === d.length, { message: 'domains must not repeat' }),
    /** Omitted: a self-signed certificate, so nginx can start with TLS before DNS points here. */
    issuer: issuer.default({ selfSigned: { validity: NINETY_DAYS_MS } }),
    keyType: z.enum(['ecdsa-p256', 'rsa-2048', 'rsa-4096']).default('ecdsa-p256'),
    /** Full chain (leaf first), PEM. Relative paths are relative to the manifest's folder. */
    certFile: z.string().min(1),
    /** Private key, PEM, written with mode 0600. */
    keyFile: z.string().min(1),
    /** Services told about a new certificate; `nginx -s reload` in the container by default. */
    reload: z.array(reload).default([]),
    /** Renew when this much validity is left, if that comes before two thirds of the lifetime. */
    renewBefore: duration.optional(),
    challenge: z
      .strictObject({ http01: http01.default({ mode: 'agent' }) })
      .default({ http01: { mode: 'agent' } }),
  })
  .refine((c) => !('acme' in c.issuer) || c.domains.every((d) => !d.startsWith('*.')), {
    message: 'wildcard names need dns-01, which is not supported; http-01 validates exact names only',
    path: ['domains'],
  });

export type CertificateSpec = z.output<typeof certificateSpec>;
export type AcmeIssuerSpec = z.output<typeof acmeIssuer>;
export type CertificateKeyType = CertificateSpec['keyType'];
