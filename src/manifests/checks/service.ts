import { isAbsolute, relative, resolve } from 'node:path';
import type { Resource } from '../resource.js';
import type { CheckContext } from './check-context.js';
import type { ServiceSpec } from '../kinds/service.js';

/** Cross-document rules for services: references exist, no cycles, no host port clashes. */
export function checkServices(ctx: CheckContext): void {
  const services = ctx.state.list('Service');
  const ports = new Map<string, { svc: Resource<ServiceSpec>; index: number }>();

  for (const svc of services) {
    svc.spec.dependsOn.forEach((dep, i) => {
      const target = ctx.state.get('Service', dep.service);
      if (!target) ctx.report(svc, ['spec', 'dependsOn', i], `service "${dep.service}" is not declared`);
      else if (dep.service === svc.name) ctx.report(svc, ['spec', 'dependsOn', i], 'a service cannot depend on itself');
      else if (dep.condition === 'healthy' && !target.spec.healthcheck)
        ctx.report(svc, ['spec', 'dependsOn', i], `condition healthy needs a healthcheck on service "${dep.service}"`);
    });
    svc.spec.networks.forEach((n, i) => {
      if (!ctx.state.get('Network', n.name)) ctx.report(svc, ['spec', 'networks', i], `network "${n.name}" is not declared`);
    });
    svc.spec.volumes.forEach((v, i) => {
      if (v.type === 'volume' && !ctx.state.get('Volume', v.source))
        ctx.report(svc, ['spec', 'volumes', i], `volume "${v.source}" is not declared`);
      if (v.type === 'bind' && !isAbsolute(v.source)) checkRelativePath(ctx, svc, ['spec', 'volumes', i], v.source, 'bind mount source');
    });
    svc.spec.ports.forEach((p, i) => {
      // 0.0.0.0 overlaps every address, so two mappings clash when the ports match and either is a wildcard.
      for (const [key, other] of ports) {
        const [ip, hp, proto] = key.split('|');
        if (Number(hp) !== p.hostPort || proto !== p.protocol) continue;
        if (ip === p.hostIp || ip === '0.0.0.0' || p.hostIp === '0.0.0.0') {
          ctx.report(
            svc,
            ['spec', 'ports', i],
            `host port ${p.hostPort}/${p.protocol} is already published by service "${other.svc.name}" (${other.svc.source.file})`,
          );
        }
      }
      ports.set(`${p.hostIp}|${p.hostPort}|${p.protocol}`, { svc, index: i });
    });
    for (const [name, value] of Object.entries(svc.spec.env)) {
      if (typeof value === 'object' && 'secretRef' in value && !ctx.secretDefined(value.secretRef))
        ctx.report(svc, ['spec', 'env', name], `secret ${value.secretRef} is not defined in the secrets file or the agent's environment`);
      if (typeof value === 'object' && 'file' in value) {
        const path = isAbsolute(value.file) ? value.file : resolve(svc.source.dir, value.file);
        if (!ctx.pathExists(path)) ctx.report(svc, ['spec', 'env', name], `secret file ${path} does not exist`);
      }
    }
    if (svc.spec.build) checkRelativePath(ctx, svc, ['spec', 'build', 'context'], svc.spec.build.context, 'build context');
  }

  for (const cycle of findCycles(services)) {
    const first = services.find((s) => s.name === cycle[0]) as Resource<ServiceSpec>;
    ctx.report(first, ['spec', 'dependsOn'], `dependency cycle: ${[...cycle, cycle[0]].join(' -> ')}`);
  }
}

/**
 * A path written relative to a manifest must exist and stay inside the manifests folder: with git
 * sync the folder is a checkout that is replaced on every commit, so `../` would reach into the
 * agent's own state (or a checkout about to be pruned). Host paths are written absolute, and are
 * the host's business (checked when the container is created).
 */
function checkRelativePath(ctx: CheckContext, svc: Resource<ServiceSpec>, path: (string | number)[], written: string, what: string): void {
  const full = isAbsolute(written) ? written : resolve(svc.source.dir, written);
  const inside = relative(ctx.root, full);
  if (!isAbsolute(written) && (inside.startsWith('..') || isAbsolute(inside))) {
    ctx.report(svc, path, `${what} ${written} resolves to ${full}, outside the manifests folder; write host paths as absolute paths`);
  } else if (!ctx.pathExists(full)) {
    ctx.report(svc, path, `${what} ${full} does not exist`);
  }
}

/** Each elementary cycle reported once, starting at its smallest name (depth-first, three colours). */
export function findCycles(services: readonly Resource<ServiceSpec>[]): string[][] {
  const deps = new Map(services.map((s) => [s.name, s.spec.dependsOn.map((d) => d.service)]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const cycles = new Map<string, string[]>();
  const visit = (name: string): void => {
    state.set(name, 'visiting');
    stack.push(name);
    for (const next of deps.get(name) ?? []) {
      if (!deps.has(next)) continue;
      if (state.get(next) === 'visiting') {
        const cycle = stack.slice(stack.indexOf(next));
        const start = cycle.indexOf([...cycle].sort()[0] as string);
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        cycles.set(rotated.join('>'), rotated);
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(name, 'done');
  };
  for (const name of [...deps.keys()].sort()) if (!state.has(name)) visit(name);
  return [...cycles.values()];
}

