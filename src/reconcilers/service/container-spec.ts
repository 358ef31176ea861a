import { isAbsolute, resolve } from 'node:path';
import type { ContainerCreateOptions } from '../../adapters/docker/index.js';
import { LABEL_SERVICE, LABEL_SPEC, LABEL_SPEC_HASH } from '../../adapters/docker-types.js';
import type { HealthcheckSpec, ServiceSpec } from '../../manifests/kinds/service.js';
import type { Resource } from '../../manifests/resource.js';
import { specHash } from '../../util/hash.js';
import type { Ownership } from '../ownership.js';

const NS_PER_MS = 1_000_000;

/** Marks a secret's place in the hashed spec: an HMAC of its value under the per-host key, never the value. */
export const SECRET_DIGEST_PREFIX = 'hmac:';

/** What plan needs to know about a Service beyond its manifest: read by observe. */
export interface ContainerFacts {
  /** The image id the tag points at now (undefined when the engine does not have it). */
  imageId: string | undefined;
  /** HMAC (hex) of each secret-valued env var's resolved value, by variable name. */
  secretDigests: Readonly<Record<string, string>>;
  /** The Docker name each mounted Volume is mounted by, when not the agent's own (external volumes). */
  volumeNames?: Readonly<Record<string, string>>;
  /**
   * Digests of the bind-mounted files and folders from the manifests folder, by source: part of the
   * spec for a service that declares no reload (a change makes a new container). With a reload they
   * are tracked apart and a change reloads instead.
   */
  mountedContent?: Readonly<Record<string, string>>;
  /**
   * With a reload: the inode of each bind-mounted file. Docker pins a file mount to the inode it
   * found at create, so a file replaced by rename can only reach a new container.
   */
  mountedInodes?: Readonly<Record<string, number>>;
  /**
   * For a follower: per network (by manifest name), the `container:alias` links that make each
   * followed service's name resolve, for this container alone, to the container holding the
   * service's Docker name, which a rollout moves by rename (docs/design.md, "Rollouts").
   */
  links?: Readonly<Record<string, readonly string[]>>;
}

/**
 * The container a Service asks for, as plain data: Docker's create options with every secret left
 * out, the spec hash that identifies them, and the hashed form (secrets as HMACs) that goes on the
 * container's label so a later plan can say which fields changed.
 */
export interface DesiredContainer {
  hash: string;
  /** Canonical input of the hash; secrets appear only as `hmac:<hex>`. Stored on the container. */
  hashed: Readonly<Record<string, unknown>>;
  /** Create options with literal env only; {@link withSecretEnv} adds the secrets at apply time. */
  create: ContainerCreateOptions;
  /** Env vars whose value is a secret or a file, resolved only when the container is created. */
  secretEnv: readonly string[];
  /** Networks beyond the first, connected after create (Engine API 1.41 takes one at create). */
  extraNetworks: { network: string; aliases: string[]; links?: string[] }[];
}

/**
 * Turns a Service into Docker's create options and their hash, with no I/O: secret values enter
 * the hash only as the HMACs observe computed, so the hash label reveals nothing about them, yet a
 * changed secret still changes the hash.
 */
export function desiredContainer(svc: Resource<ServiceSpec>, own: Ownership, facts: ContainerFacts): DesiredContainer {
  const spec = svc.spec;
  const env: string[] = [];
  const envForHash: Record<string, string> = {};
  const secretEnv: string[] = [];
  for (const [name, value] of Object.entries(spec.env)) {
    if (typeof value === 'string') {
      env.push(`${name}=${value}`);
      envForHash[name] = value;
    } else {
      secretEnv.push(name);
      envForHash[name] = `${SECRET_DIGEST_PREFIX}${facts.secretDigests[name] ?? 'unresolved'}`;
    }
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
    Source: v.type === 'volume' ? (facts.volumeNames?.[v.source] ?? own.dockerName(v.source)) : isAbsolute(v.source) ? v.source : resolve(svc.source.dir, v.source),
    Target: v.target,
    ReadOnly: v.readOnly,
  }));

  const [firstNet, ...otherNets] = spec.networks;
  const aliasesOf = (n: { aliases: string[] }): string[] => [svc.name, ...n.aliases];
  const linksOf = (n: { name: string }): string[] => [...(facts.links?.[n.name] ?? [])];

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
    NetworkingConfig: firstNet ? { EndpointsConfig: { [own.dockerName(firstNet.name)]: { Aliases: aliasesOf(firstNet), ...nonEmptyAs('Links', linksOf(firstNet)) } } } : undefined,
  };

  const extraNetworks = otherNets.map((n) => ({ network: own.dockerName(n.name), aliases: aliasesOf(n), ...nonEmptyAs('links', linksOf(n)) }));
  // The image *id* is hashed too, so a rebuilt or re-pulled tag recreates the container.
  const nonEmpty = <T>(m: Readonly<Record<string, T>> | undefined): m is Readonly<Record<string, T>> => !!m && Object.keys(m).length > 0;
  const content = { ...(nonEmpty(facts.mountedContent) ? { mountedContent: facts.mountedContent } : {}), ...(nonEmpty(facts.mountedInodes) ? { mountedInodes: facts.mountedInodes } : {}) };
  const hashed = { create: { ...create, Env: envForHash, Labels: spec.labels }, extraNetworks, imageId: facts.imageId, ...content };
  const hash = specHash(hashed);
  create.Labels = { ...labels, [LABEL_SPEC_HASH]: hash, [LABEL_SPEC]: JSON.stringify(hashed) };
  return { hash, hashed, create, secretEnv, extraNetworks };
}

/** `{ [key]: list }` only when the list has entries, so that every container without one keeps its spec hash. */
function nonEmptyAs<K extends string>(key: K, list: string[]): { [P in K]?: string[] } {
  return (list.length > 0 ? { [key]: list } : {}) as { [P in K]?: string[] };
}

/** The create options with the secret env values added: the only place they meet the container's config. */
export function withSecretEnv(c: DesiredContainer, resolveEnv: (name: string) => string): ContainerCreateOptions {
  return { ...c.create, Env: [...(c.create.Env ?? []), ...c.secretEnv.map((name) => `${name}=${resolveEnv(name)}`)] };
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
