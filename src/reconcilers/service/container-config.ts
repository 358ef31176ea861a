import { createHmac } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { LABEL_SERVICE, LABEL_SPEC_HASH } from '../../adapters/docker-types.js';
import type { ContainerCreateOptions } from '../../adapters/docker/index.js';
import type { HealthcheckSpec, ServiceSpec } from '../../manifests/kinds/service.js';
import type { Resource } from '../../manifests/resource.js';
import { resolveValue, type SecretSource } from '../../manifests/secrets.js';
import { specHash } from '../../util/hash.js';
import type { Ownership } from '../ownership.js';

const NS_PER_MS = 1_000_000;

export interface ContainerPlanInput {
  /** Hash of everything that shapes the container; a different hash means recreate. */
  hash: string;
  create: ContainerCreateOptions;
  /** Networks beyond the first, connected after create (Engine API 1.41 takes one at create). */
  extraNetworks: { network: string; aliases: string[] }[];
}

/**
 * Turns a Service into Docker's create options and a hash of them. Secret values enter the hash
 * only as an HMAC keyed by a per-host key, so the hash label reveals nothing about them, yet a
 * changed secret still recreates the container.
 */
export function buildContainerConfig(
  svc: Resource<ServiceSpec>,
  own: Ownership,
  secrets: SecretSource,
  hashKey: Buffer,
  imageId: string | undefined,
  /** The Docker name a declared volume is mounted by (external volumes keep their own). */
  volumeName: (volume: string) => string = (v) => own.dockerName(v),
): ContainerPlanInput {
  const spec = svc.spec;
  const env: string[] = [];
  const envForHash: Record<string, string> = {};
  for (const [name, value] of Object.entries(spec.env)) {
    let resolved: string;
    try {
      resolved = resolveValue(value, secrets, svc.source.dir);
    } catch (err) {
      throw new Error(`env ${name}: ${(err as Error).message}`);
    }
    env.push(`${name}=${resolved}`);
    envForHash[name] = typeof value === 'string' ? resolved : `hmac:${createHmac('sha256', hashKey).update(resolved).digest('hex')}`;
  }

  const portBindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  const exposed: Record<string, object> = {};
  for (const port of spec.expose) exposed[`${port}/tcp`] = {};
  for (const p of spec.ports) {
    const key = `${p.containerPort}/${p.protocol}`;
    exposed[key] = {};
    (portBindings[key] ??= []).push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
  }

  const mounts = spec.volumes.map((v) => ({
    Type: v.type,
    Source: v.type === 'volume' ? volumeName(v.source) : isAbsolute(v.source) ? v.source : resolve(svc.source.dir, v.source),
    Target: v.target,
    ReadOnly: v.readOnly,
  }));

  const [firstNet, ...otherNets] = spec.networks;
  const aliasesOf = (n: { aliases: string[] }): string[] => [svc.name, ...n.aliases];

  const labels = { ...spec.labels, ...own.selector({ [LABEL_SERVICE]: svc.name }) };
  const create: ContainerCreateOptions = {
    name: own.dockerName(svc.name),
    Image: spec.image,
    Cmd: spec.command,
    Entrypoint: spec.entrypoint,
    Env: env,
    WorkingDir: spec.workingDir,
    User: spec.user,
    Labels: labels,
    ExposedPorts: exposed,
    Healthcheck: spec.healthcheck ? dockerHealthcheck(spec.healthcheck) : undefined,
    StopTimeout: Math.ceil(spec.stopGracePeriod / 1000),
    // Only when set, so that existing containers keep their spec hash.
    ...(spec.stopSignal ? { StopSignal: spec.stopSignal } : {}),
    HostConfig: {
      PortBindings: portBindings,
      Mounts: mounts,
      // The agent is the supervisor: Docker's own policy ignores dependsOn, `docker kill` and
      // unhealthy containers, and would race the agent's backoff. See docs/design.md.
      RestartPolicy: { Name: 'no' },
      ...(spec.init ? { Init: true } : {}),
      Memory: spec.resources.memory,
      NanoCpus: spec.resources.cpus ? Math.round(spec.resources.cpus * 1e9) : undefined,
      LogConfig: { Type: 'json-file', Config: { 'max-size': spec.logging.maxSize, 'max-file': String(spec.logging.maxFile) } },
      NetworkMode: firstNet ? own.dockerName(firstNet.name) : 'bridge',
    },
    NetworkingConfig: firstNet ? { EndpointsConfig: { [own.dockerName(firstNet.name)]: { Aliases: aliasesOf(firstNet) } } } : undefined,
  };

  const extraNetworks = otherNets.map((n) => ({ network: own.dockerName(n.name), aliases: aliasesOf(n) }));
  // The image *id* is hashed too, so a rebuilt or re-pulled tag recreates the container.
  const hash = specHash({ create: { ...create, Env: envForHash, Labels: spec.labels }, extraNetworks, imageId });
  create.Labels = { ...labels, [LABEL_SPEC_HASH]: hash };
  return { hash, create, extraNetworks };
}

function dockerHealthcheck(h: HealthcheckSpec): NonNullable<ContainerCreateOptions['Healthcheck']> {
  const test = h.command
    ? h.command[0] === '/bin/sh' && h.command[1] === '-c' && h.command.length === 3
      ? ['CMD-SHELL', h.command[2] as string]
      : ['CMD', ...h.command]
    : ['CMD-SHELL', httpProbe(h.http as { port: number; path: string })];
  return {
    Test: test,
    Interval: h.interval * NS_PER_MS,
    Timeout: h.timeout * NS_PER_MS,
    Retries: h.retries,
    StartPeriod: h.startPeriod * NS_PER_MS,
  };
}

/** An HTTP GET from inside the container with whichever client the image has. */
function httpProbe(http: { port: number; path: string }): string {
  const url = `http://127.0.0.1:${http.port}${http.path}`;
  return `wget -q -O /dev/null '${url}' 2>/dev/null || curl -fsS -o /dev/null '${url}'`;
}
