import type { ValueOrSecret } from '../kinds/common.js';
import type { Resource } from '../resource.js';
import { MIN_SAFE_SECRET_LENGTH, readSecretFile, secretFilePath } from '../secrets.js';
import type { FieldPath } from '../source.js';
import type { CheckContext } from './check-context.js';
import { checkReadablePath } from './host-access.js';

/** Every field of every kind that may hold a secret reference, with its path for messages. */
function secretFields(ctx: CheckContext): { res: Resource; path: FieldPath; value: ValueOrSecret }[] {
  const out: { res: Resource; path: FieldPath; value: ValueOrSecret }[] = [];
  for (const svc of ctx.state.list('Service')) for (const [k, v] of Object.entries(svc.spec.env)) out.push({ res: svc, path: ['spec', 'env', k], value: v });
  for (const s of ctx.state.list('Schedule')) {
    const job = s.spec.exec ? 'exec' : 'run';
    for (const [k, v] of Object.entries(s.spec.exec?.env ?? s.spec.run?.env ?? {})) out.push({ res: s, path: ['spec', job, 'env', k], value: v });
  }
  for (const b of ctx.state.list('Backup')) {
    b.spec.sources.forEach((src, i) => {
      if ('postgres' in src && src.postgres.password !== undefined) out.push({ res: b, path: ['spec', 'sources', i, 'postgres', 'password'], value: src.postgres.password });
    });
  }
  for (const c of ctx.state.list('Certificate')) {
    const hmac = 'acme' in c.spec.issuer ? c.spec.issuer.acme.eab?.hmacKey : undefined;
    if (hmac !== undefined) out.push({ res: c, path: ['spec', 'issuer', 'acme', 'eab', 'hmacKey'], value: hmac });
  }
  return out;
}

/**
 * Every secret a manifest references resolves, from an allowed place: secretRef from the secrets
 * file or an allowed environment variable, `file:` from a regular file inside the allowed roots.
 * Each resolved value is remembered for scrubbing; a value too short to scrub safely is a warning.
 */
export function checkSecretValues(ctx: CheckContext): void {
  for (const { res, path, value } of secretFields(ctx)) {
    if (typeof value === 'string') continue;
    let resolved: string | undefined;
    if ('secretRef' in value) {
      if (ctx.offline) continue;
      resolved = ctx.secrets.get(value.secretRef);
      if (resolved === undefined) ctx.report(res, path, ctx.secrets.explainMissing(value.secretRef));
    } else {
      const file = secretFilePath(value.file, res.source.dir);
      if (!checkReadablePath(ctx, res, path, value.file, file, 'secret file') || ctx.offline) continue;
      try {
        resolved = readSecretFile(file);
        ctx.secrets.remember(resolved);
      } catch (err) {
        ctx.report(res, path, (err as Error).message);
      }
    }
    if (resolved !== undefined && resolved.length < MIN_SAFE_SECRET_LENGTH) {
      const what = 'secretRef' in value ? `secret ${value.secretRef}` : `secret file ${value.file}`;
      ctx.warn(res, path, `${what} is ${resolved.length} character(s) long; values under ${MIN_SAFE_SECRET_LENGTH} characters also match unrelated text, so scrubbing them from output is unreliable`);
    }
  }
}
