import { dirname, isAbsolute, resolve } from 'node:path';
import type { Resource } from '../resource.js';
import type { CertificateSpec } from '../kinds/certificate.js';
import type { CheckContext } from './check-context.js';

/** Cross-document rules for certificates: reload targets exist, no two write one file (secrets, host paths and keyFile overwrites: secret-values.ts, host-access.ts, key-file.ts). */
export function checkCertificates(ctx: CheckContext): void {
  const writers = new Map<string, { cert: Resource<CertificateSpec>; field: string }>();
  for (const cert of ctx.state.list('Certificate')) {
    const spec = cert.spec;
    spec.reload.forEach((r, i) => {
      if (!ctx.state.get('Service', r.service)) ctx.report(cert, ['spec', 'reload', i], `service "${r.service}" is not declared`);
    });

    const certPath = resolve(cert.source.dir, spec.certFile);
    const keyPath = resolve(cert.source.dir, spec.keyFile);
    if (certPath === keyPath) ctx.report(cert, ['spec', 'keyFile'], 'keyFile must differ from certFile');
    // Both are links into one version folder beside certFile (swapped as one unit); a container
    // mounting only the key's folder would see a dangling link.
    else if (dirname(certPath) !== dirname(keyPath))
      ctx.report(cert, ['spec', 'keyFile'], `keyFile must be in the same folder as certFile (${dirname(certPath)}): the pair is swapped as one unit there`);
    for (const [field, path] of [
      ['certFile', certPath],
      ['keyFile', keyPath],
    ] as const) {
      const other = writers.get(path);
      if (other) ctx.report(cert, ['spec', field], `${path} is already written by Certificate "${other.cert.name}" (${other.field})`);
      else writers.set(path, { cert, field });
    }
  }
}
