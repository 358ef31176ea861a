import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { IVolume } from 'kubernetes-models/v1';
import type { CertificateSpec } from '../../manifests/kinds/certificate.js';
import type { Resource } from '../../manifests/resource.js';
import type { FieldPath } from '../../manifests/source.js';
import { certificateSecretName } from './certificate.js';
import type { ExportContext } from './context.js';
import { labelFrom } from './names.js';

/** A ConfigMap holds at most 1 MiB (etcd's object limit). */
const MAX_CONFIGMAP_BYTES = 1024 * 1024;
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/;

/** A pod volume for a host path, and the key inside it when the path is one file. */
export interface HostVolume {
  volume: IVolume;
  subPath?: string;
}

/**
 * How a host path a manifest names (a bind mount's source, a backup's directory or file) reaches a
 * pod, in this order: the files of a Certificate become its cert-manager Secret; an ACME webroot
 * becomes an emptyDir (cert-manager answers http-01 itself); files inside the manifests folder are
 * copied into a ConfigMap; anything else is a node's path, an error unless --allow-host-path.
 * Returns undefined after reporting an error.
 */
export function hostVolume(ctx: ExportContext, resource: Resource, path: FieldPath, written: string): HostVolume | undefined {
  const hostPath = isAbsolute(written) ? written : resolve(resource.source.dir, written);
  const certificate = certificateFiles(ctx, hostPath);
  if (certificate) return certificate;
  const webroot = ctx.state.list('Certificate').find((c) => {
    const http01 = c.spec.challenge.http01;
    return http01.mode === 'webroot' && resolve(c.source.dir, http01.path) === hostPath;
  });
  if (webroot) {
    ctx.warn(resource, `${written} (the ACME webroot of Certificate "${webroot.name}") becomes an empty folder: cert-manager answers http-01 challenges through its own solver`);
    return { volume: { name: labelFrom(`acme-webroot-${webroot.name}`), emptyDir: {} } };
  }
  const inside = relative(ctx.root, hostPath);
  if (!inside.startsWith('..') && !isAbsolute(inside)) return configMapVolume(ctx, resource, path, hostPath, inside);
  if (!ctx.options.allowHostPath) {
    ctx.error(resource, path, `host path ${hostPath} is outside the manifests folder, and a cluster node has no such path: move the data into a Volume, or pass --allow-host-path to mount it from the node (hostPath)`);
    return undefined;
  }
  ctx.warn(resource, `${hostPath} is mounted from the node it runs on (hostPath; --allow-host-path): it holds whatever that node has there; move its data into a Volume`);
  return { volume: { name: labelFrom(`host-${hostPath}`), hostPath: { path: hostPath } } };
}

/** The Secret cert-manager keeps for a Certificate whose certFile or keyFile is at (or under) hostPath. */
function certificateFiles(ctx: ExportContext, hostPath: string): HostVolume | undefined {
  for (const cert of ctx.state.list('Certificate') as Resource<CertificateSpec>[]) {
    const files = [
      { key: 'tls.crt', path: resolve(cert.source.dir, cert.spec.certFile) },
      { key: 'tls.key', path: resolve(cert.source.dir, cert.spec.keyFile) },
    ];
    const secretName = certificateSecretName(cert);
    const exact = files.find((f) => f.path === hostPath);
    if (exact) return { volume: { name: secretName, secret: { secretName } }, subPath: exact.key };
    const under = files.filter((f) => !relative(hostPath, f.path).startsWith('..') && !isAbsolute(relative(hostPath, f.path)));
    if (under.length > 0) {
      const items = under.map((f) => ({ key: f.key, path: relative(hostPath, f.path) }));
      return { volume: { name: secretName, secret: { secretName, items } } };
    }
  }
  return undefined;
}

function configMapVolume(ctx: ExportContext, resource: Resource, path: FieldPath, hostPath: string, inside: string): HostVolume | undefined {
  let files: { key: string; full: string }[];
  let single: boolean;
  try {
    single = !statSync(hostPath).isDirectory();
    files = single ? [{ key: inside.split('/').pop() ?? inside, full: hostPath }] : folderFiles(hostPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    ctx.error(resource, path, code === 'ENOENT' ? `${hostPath} does not exist` : code ? `cannot read ${hostPath} (${code})` : (err as Error).message);
    return undefined;
  }
  const bad = files.find((f) => !CONFIGMAP_KEY.test(f.key));
  if (bad) {
    ctx.error(resource, path, `${bad.full}: a ConfigMap key may contain only letters, digits, "-", "_" and "."; rename the file`);
    return undefined;
  }
  const contents = files.map((f) => ({ ...f, content: readFileSync(f.full) }));
  const bytes = contents.reduce((n, f) => n + f.content.length, 0);
  if (bytes > MAX_CONFIGMAP_BYTES) {
    ctx.error(resource, path, `${hostPath} holds ${bytes} bytes; a ConfigMap holds at most 1 MiB: put the files into the image or a Volume`);
    return undefined;
  }
  const name = ctx.claimShared('ConfigMap', labelFrom(inside === '' ? 'manifests' : inside), { resource, path, identity: `file:${hostPath}` });
  if (name === undefined) return undefined;
  for (const f of contents) ctx.addConfigMapFile(name, f.key, join('files', name, f.key), f.content);
  const volume: IVolume = { name, configMap: { name } };
  return single ? { volume, subPath: files[0]?.key ?? '' } : { volume };
}

/** The regular files of a folder (symbolic links followed); a ConfigMap has no sub-folders. */
function folderFiles(dir: string): { key: string; full: string }[] {
  const out: { key: string; full: string }[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) throw new Error(`${full} is a folder; a ConfigMap holds files only: mount the folder's sub-folders one by one`);
    out.push({ key: entry, full });
  }
  return out;
}
