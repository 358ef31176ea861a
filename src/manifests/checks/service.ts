import type { Resource } from '../resource.js';
import type { CheckContext } from './check-context.js';
import { startFirstBlocker, type ServiceSpec } from '../kinds/service.js';

/** Cross-document rules for services: references exist, no cycles, no host port clashes (host paths: host-access.ts). */
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
    const blocker = svc.spec.rollout.strategy === 'StartFirst' ? startFirstBlocker(svc.spec) : undefined;
    if (blocker) ctx.report(svc, ['spec', 'rollout', 'strategy'], `StartFirst is unsafe here: ${blocker}; use StopFirst (the default for this service)`);
  }

  for (const cycle of findCycles(services)) {
    const first = services.find((s) => s.name === cycle[0]) as Resource<ServiceSpec>;
    ctx.report(first, ['spec', 'dependsOn'], `dependency cycle: ${[...cycle, cycle[0]].join(' -> ')}`);
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

