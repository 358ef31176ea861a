import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { DEFAULT_POLICY, DEFAULT_POLICY_FILE } from '../host-policy.js';
import { isWithin, protectedHit, realPathOf } from '../host-paths.js';
import type { VolumeMount } from '../kinds/service.js';
import type { Resource } from '../resource.js';
import type { FieldPath } from '../source.js';
import type { CheckContext } from './check-context.js';

/** "allow it with allowedRoots: [/srv/x] in /etc/certitrack/policy.yaml": the setting that would allow a rejection. */
function allowWith(ctx: CheckContext, setting: string, value: string): string {
  const file = ctx.rules.policy.source === DEFAULT_POLICY.source ? `${DEFAULT_POLICY_FILE} (or --policy FILE)` : ctx.rules.policy.source;
  return `allow it with ${setting}: [${JSON.stringify(value)}] in the host policy ${file}`;
}

/**
 * Offline (a manifests repo's CI, `export`), an absolute path belongs to a host whose policy is not
 * at hand: only where relative paths lead is checked there.
 */
const insideFolderOrRoots = (ctx: CheckContext, real: string, written: string): boolean =>
  (ctx.offline && isAbsolute(written)) || isWithin(real, ctx.root) || ctx.rules.policy.allowedRoots.some((r) => isWithin(real, r));

function outsideRoots(ctx: CheckContext, res: Resource, path: FieldPath, what: string, written: string, real: string, suggest: string): void {
  ctx.report(res, path, `${what} ${written} is ${real}, outside the manifests folder and the allowed roots; ${allowWith(ctx, 'allowedRoots', suggest)}`);
}

/**
 * A host path the agent reads for a manifest (a secret file, a backup source, a CA file): its real
 * path must lie inside the manifests folder or an allowed root, so neither `../` nor a symlink can
 * reach /etc/shadow. Backup sources may appear later (the backup reports it); the others must exist
 * now. Returns whether it passed.
 */
export function checkReadablePath(ctx: CheckContext, res: Resource, path: FieldPath, written: string, full: string, what: string, mustExist = true): boolean {
  if (mustExist && !ctx.offline && !existsSync(full)) {
    ctx.report(res, path, `${what} ${full} does not exist`);
    return false;
  }
  const real = realPathOf(full);
  if (insideFolderOrRoots(ctx, real, written)) return true;
  outsideRoots(ctx, res, path, what, written, real, real);
  return false;
}

/** A host path the agent writes (certificate files, a webroot, a local backup destination): inside the folder or an allowed root. */
function checkWritablePath(ctx: CheckContext, res: Resource, path: FieldPath, written: string, what: string, isDirectory: boolean): void {
  const real = realPathOf(resolve(res.source.dir, written));
  if (!insideFolderOrRoots(ctx, real, written)) outsideRoots(ctx, res, path, what, written, real, isDirectory ? real : dirname(real));
}

/**
 * A relative path written in a manifest stays inside the manifests folder: with git sync the folder
 * is a checkout that is replaced on every commit, so `../` would reach into the agent's own state.
 */
function checkRelativeInside(ctx: CheckContext, res: Resource, path: FieldPath, written: string, what: string): boolean {
  const full = resolve(res.source.dir, written);
  if (!isWithin(full, ctx.root)) {
    ctx.report(res, path, `${what} ${written} resolves to ${full}, outside the manifests folder; write host paths as absolute paths`);
    return false;
  }
  if (!ctx.offline && !existsSync(full)) {
    ctx.report(res, path, `${what} ${full} does not exist`);
    return false;
  }
  return true;
}

/**
 * A bind mount gives the container the host path: never `/`, the Docker socket, /etc, /proc and the
 * like, nor the agent's state dir or secrets file, nor a folder containing one of them. Checked on
 * the real path, so a symlink inside the folder cannot point a mount at `/`.
 */
function checkBindSource(ctx: CheckContext, res: Resource, path: FieldPath, mount: VolumeMount): void {
  if (mount.type !== 'bind') return;
  const relative = !isAbsolute(mount.source);
  if (relative && !checkRelativeInside(ctx, res, path, mount.source, 'bind mount source')) return;
  const real = realPathOf(resolve(res.source.dir, mount.source));
  if (relative && isWithin(real, ctx.root)) return;
  if (ctx.rules.policy.allowedMountSources.some((a) => isWithin(real, a))) return;
  const hit = protectedHit(real, ctx.rules.protectedPaths);
  if (!hit) return;
  const how = real === hit || isWithin(real, hit) ? `is inside the protected ${hit}` : `contains the protected ${hit}`;
  ctx.report(res, path, `bind mount source ${mount.source} (real path ${real}) ${how}: a container with it is root on the host; ${allowWith(ctx, 'allowedMountSources', real)}`);
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** Backups carry the host's data and the instance's credentials: only over https, loopback, or an endpoint the policy allows. */
function checkEndpoint(ctx: CheckContext, res: Resource, path: FieldPath, endpoint: string): void {
  const url = new URL(endpoint);
  if (url.protocol === 'https:' || LOOPBACK.test(url.hostname)) return;
  if (ctx.rules.policy.allowedEndpoints.includes(url.origin)) return;
  ctx.report(res, path, `endpoint ${url.origin} is not https: the backup and the instance's credentials would cross the network in cleartext; ${allowWith(ctx, 'allowedEndpoints', url.origin)}`);
}

/** What manifests may touch on the host, per the host policy (docs/security.md). */
export function checkHostAccess(ctx: CheckContext): void {
  for (const svc of ctx.state.list('Service')) {
    svc.spec.volumes.forEach((v, i) => checkBindSource(ctx, svc, ['spec', 'volumes', i], v));
    const build = svc.spec.build;
    // The context is read and sent to the image build (whose Dockerfile may COPY any of it): a read of host files like any other.
    if (build && (isAbsolute(build.context) || checkRelativeInside(ctx, svc, ['spec', 'build', 'context'], build.context, 'build context'))) {
      checkReadablePath(ctx, svc, ['spec', 'build', 'context'], build.context, resolve(svc.source.dir, build.context), 'build context');
    }
  }
  for (const s of ctx.state.list('Schedule')) s.spec.run?.volumes.forEach((v, i) => checkBindSource(ctx, s, ['spec', 'run', 'volumes', i], v));
  for (const b of ctx.state.list('Backup')) {
    b.spec.sources.forEach((src, i) => {
      if ('directory' in src) checkReadablePath(ctx, b, ['spec', 'sources', i, 'directory', 'path'], src.directory.path, resolve(b.source.dir, src.directory.path), 'backup directory', false);
      if ('file' in src) checkReadablePath(ctx, b, ['spec', 'sources', i, 'file', 'path'], src.file.path, resolve(b.source.dir, src.file.path), 'backup file', false);
    });
    const d = b.spec.destination;
    if (d && 'local' in d) checkWritablePath(ctx, b, ['spec', 'destination', 'local', 'path'], d.local.path, 'backup destination', true);
    if (d && 's3' in d && d.s3.endpoint) checkEndpoint(ctx, b, ['spec', 'destination', 's3', 'endpoint'], d.s3.endpoint);
  }
  for (const c of ctx.state.list('Certificate')) {
    checkWritablePath(ctx, c, ['spec', 'certFile'], c.spec.certFile, 'certFile', false);
    checkWritablePath(ctx, c, ['spec', 'keyFile'], c.spec.keyFile, 'keyFile', false);
    const h = c.spec.challenge.http01;
    if (h.mode === 'webroot') checkWritablePath(ctx, c, ['spec', 'challenge', 'http01', 'webroot', 'path'], h.path, 'webroot', true);
    const ca = 'acme' in c.spec.issuer ? c.spec.issuer.acme.caFile : undefined;
    if (ca) checkReadablePath(ctx, c, ['spec', 'issuer', 'acme', 'caFile'], ca, resolve(c.source.dir, ca), 'caFile');
  }
}
