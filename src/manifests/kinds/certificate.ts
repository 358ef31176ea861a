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
  directory: z
    .union([z.enum(['letsencrypt', 'letsencrypt-staging']), z.url({ protocol: /^https?$/ })])
    .describe("The CA's ACME directory URL, or letsencrypt / letsencrypt-staging by name."),
  email: z.email().describe("The account's contact; the CA sends expiry warnings here."),
  eab: z
    .strictObject({
      kid: z.string().min(1).describe('The key id the CA gave.'),
      hmacKey: valueOrSecret.describe('The HMAC key the CA gave: { secretRef: NAME } or { file: PATH } (a literal works but is not secret).'),
    })
    .optional()
    .describe('External account binding, for CAs that require one (ZeroSSL, Google, step-ca with EAB).'),
  skipChallengeVerification: z
    .boolean()
    .default(false)
    .describe(
      'The challenge is first fetched locally (system resolver, port 80), catching a broken route before it costs a failed validation at the CA. ' +
        "true skips that, for names only the CA's resolver knows (test CAs).",
    ),
  caFile: z
    .string()
    .min(1)
    .optional()
    .describe("PEM of the CA that signed the ACME server's own HTTPS certificate (private CAs, Pebble); trusted for that server only."),
});

const NINETY_DAYS_MS = 90 * 86_400_000;

const selfSignedIssuer = z
  .strictObject({ validity: duration.prefault('90d').describe('How long the certificate is valid.') })
  .default({ validity: NINETY_DAYS_MS });

const issuer = z.union([
  z.strictObject({ acme: acmeIssuer.describe('An ACME CA (Let\'s Encrypt, ZeroSSL, step-ca …), validated over http-01.') }),
  z.strictObject({ selfSigned: selfSignedIssuer.describe('A self-signed certificate, made by the agent.') }),
]);

const SIGNALS = ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGTERM', 'SIGQUIT'] as const;
export const DEFAULT_RELOAD_COMMAND = ['nginx', '-s', 'reload'];

export type ReloadAction = { service: string; command: string[]; signal?: undefined } | { service: string; signal: (typeof SIGNALS)[number]; command?: undefined };

const reload = z.union([
  resourceName.transform((service): ReloadAction => ({ service, command: DEFAULT_RELOAD_COMMAND })),
  z
    .strictObject({
      service: resourceName.describe('The declared Service to tell.'),
      command: z.array(z.string().min(1)).min(1).optional().describe('A command run in its container; default: nginx -s reload.'),
      signal: z.enum(SIGNALS).optional().describe("Instead of a command, a signal sent to its PID 1 (through the container's /bin/sh)."),
    })
    .refine((r) => !(r.command && r.signal), { message: 'set command or signal, not both' })
    .transform((r): ReloadAction => (r.signal ? { service: r.service, signal: r.signal } : { service: r.service, command: r.command ?? DEFAULT_RELOAD_COMMAND })),
]);

export type Http01Mode = { mode: 'agent' } | { mode: 'webroot'; path: string };

const http01 = z.union([
  z.literal('agent').transform((): Http01Mode => ({ mode: 'agent' })),
  z.strictObject({ agent: z.strictObject({}).describe("The agent's own listener answers the challenge.") }).transform((): Http01Mode => ({ mode: 'agent' })),
  z
    .strictObject({
      webroot: z
        .strictObject({ path: z.string().min(1).describe('The webroot: tokens are written under <path>/.well-known/acme-challenge/ (certbot\'s layout); relative to the manifest\'s folder.') })
        .describe('Token files a web server (nginx) serves from a mounted folder; nothing has to reach the agent.'),
    })
    .transform((w): Http01Mode => ({ mode: 'webroot', path: w.webroot.path })),
]);

export const certificateSpec = z
  .strictObject({
    domains: z
      .array(domainName)
      .min(1)
      .max(100)
      .refine((d) => new Set(d).size === d.length, { message: 'domains must not repeat' })
      .describe('Subject alternative names; the first is also the subject CN. Lower-cased. Wildcards (*.) only when self-signed.'),
    issuer: issuer
      .default({ selfSigned: { validity: NINETY_DAYS_MS } })
      .describe('{ acme: {...} } or { selfSigned: { validity } }. Omitted: self-signed for 90d, so nginx can start with TLS before DNS points here.'),
    keyType: z.enum(['ecdsa-p256', 'rsa-2048', 'rsa-4096']).default('ecdsa-p256').describe('The key algorithm; a fresh key for every certificate.'),
    certFile: z
      .string()
      .min(1)
      .describe("Where the full chain (leaf first, PEM) is written; relative to the manifest's folder. In the same folder as keyFile."),
    keyFile: z.string().min(1).describe("Where the private key (PEM, mode 0600) is written; relative to the manifest's folder."),
    reload: z
      .array(reload)
      .default([])
      .describe('Services told about a new certificate: NAME (nginx -s reload in its container), { service, command: [...] } or { service, signal }.'),
    renewBefore: duration.optional().describe('Renew when this much validity is left, if that comes before two thirds of the lifetime.'),
    challenge: z
      .strictObject({ http01: http01.default({ mode: 'agent' }).describe("How http-01 is answered: agent (the agent's own listener) or { webroot: { path } }.") })
      .default({ http01: { mode: 'agent' } })
      .describe('How the ACME CA checks the names are this host\'s: http-01 only.'),
  })
  .refine((c) => !('acme' in c.issuer) || c.domains.every((d) => !d.startsWith('*.')), {
    message: 'wildcard names need dns-01, which is not supported; http-01 validates exact names only',
    path: ['domains'],
  });

export type CertificateSpec = z.output<typeof certificateSpec>;
export type AcmeIssuerSpec = z.output<typeof acmeIssuer>;
export type CertificateKeyType = CertificateSpec['keyType'];
