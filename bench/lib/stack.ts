import type { ContainerCreateOptions } from 'dockerode';
import { stringify } from 'yaml';
import { parseDuration } from '../../src/util/duration.js';

/**
 * One description of a stack, rendered both as agent manifests and as a docker-compose file, so
 * that the agent and its peer run exactly the same containers (image, command, healthcheck,
 * dependencies, networks, volumes, stop grace period).
 */
export const IMAGE = 'certitrack-test/busybox:latest';
export const BENCH_LABEL = 'io.certitrack.bench';
/** Marks containers the bench runs itself with Docker's own restart policy. */
export const PEER_LABEL = 'io.certitrack.bench-peer';

/** Every process exits on SIGTERM at once, so stop times measure the tools, not a grace period. */
const COMMANDS = {
  web: 'mkdir -p /www && echo ok > /www/index.html; trap "exit 0" TERM; httpd -f -p 8080 -h /www & wait',
  idle: 'trap "exit 0" TERM; while true; do sleep 1 & wait $!; done',
  // A process crash on demand: `docker exec C kill -USR1 1` makes PID 1 exit with code 3.
  crashable: 'trap "exit 0" TERM; trap "exit 3" USR1; while true; do sleep 1 & wait $!; done',
  // Unhealthy on demand (`touch /tmp/sick`) until restarted: the flag is cleared at every start.
  sickable: 'rm -f /tmp/sick; trap "exit 0" TERM; while true; do sleep 1 & wait $!; done',
} as const;

/** The healthcheck that goes with the sickable role: unhealthy after one failed probe. */
export const SICK_HEALTH: HealthSpec = { command: 'test ! -f /tmp/sick', interval: '500ms', timeout: '2s', retries: 1 };

/** The agent's http healthcheck runs exactly this inside the container (src/reconcilers/service/container-config.ts). */
const HTTP_PROBE = "wget -q -O /dev/null 'http://127.0.0.1:8080/' 2>/dev/null || curl -fsS -o /dev/null 'http://127.0.0.1:8080/'";

export interface HealthSpec {
  /** Shell command (exit 0 = healthy), or the http probe on :8080. */
  command?: string;
  interval: string;
  timeout: string;
  retries: number;
}

export interface BenchService {
  name: string;
  role: keyof typeof COMMANDS;
  health?: HealthSpec;
  dependsOn?: { service: string; condition: 'started' | 'healthy' }[];
  networks?: string[];
  volumes?: string[];
  env?: Record<string, string>;
}

export interface BenchStack {
  networks: string[];
  volumes: string[];
  services: BenchService[];
}

export const HTTP_HEALTH: HealthSpec = { interval: '500ms', timeout: '2s', retries: 3 };
const ALWAYS_HEALTHY: HealthSpec = { command: 'test -e /proc/1', interval: '500ms', timeout: '2s', retries: 3 };

/** The example CertiTrack stack's shape (examples/local) on busybox: 6 services, healthy dependencies. */
export function exampleStack(): BenchStack {
  const net = ['certitrack-network'];
  return {
    networks: net,
    volumes: ['postgres_data', 'redis_data'],
    services: [
      { name: 'postgres', role: 'idle', health: ALWAYS_HEALTHY, networks: net, volumes: ['postgres_data:/var/lib/postgresql/data'] },
      { name: 'redis', role: 'idle', health: ALWAYS_HEALTHY, networks: net, volumes: ['redis_data:/data'] },
      { name: 'backend', role: 'web', health: HTTP_HEALTH, networks: net, dependsOn: [{ service: 'postgres', condition: 'healthy' }, { service: 'redis', condition: 'healthy' }] },
      { name: 'frontend', role: 'web', health: HTTP_HEALTH, networks: net },
      { name: 'notification-worker', role: 'idle', networks: net, dependsOn: [{ service: 'postgres', condition: 'healthy' }, { service: 'redis', condition: 'healthy' }] },
      { name: 'nginx', role: 'web', health: HTTP_HEALTH, networks: net, dependsOn: [{ service: 'backend', condition: 'healthy' }, { service: 'frontend', condition: 'healthy' }] },
    ],
  };
}

/** `n` web services where each waits for the previous one to be healthy: a worst case for ordering. */
export function chainStack(n: number): BenchStack {
  const name = (i: number): string => `link-${String(i).padStart(2, '0')}`;
  return {
    networks: ['chain'],
    volumes: [],
    services: Array.from({ length: n }, (_, i) => ({
      name: name(i),
      role: 'web' as const,
      health: HTTP_HEALTH,
      networks: ['chain'],
      dependsOn: i === 0 ? [] : [{ service: name(i - 1), condition: 'healthy' as const }],
    })),
  };
}

/** `n` independent idle services on one network, no healthchecks: the scale test. */
export function flatStack(n: number): BenchStack {
  return {
    networks: ['flat'],
    volumes: [],
    services: Array.from({ length: n }, (_, i) => ({ name: `svc-${String(i).padStart(3, '0')}`, role: 'idle' as const, networks: ['flat'] })),
  };
}

export function commandOf(role: BenchService['role']): string {
  return COMMANDS[role];
}

export function healthTest(h: HealthSpec): string[] {
  return ['CMD-SHELL', h.command ?? HTTP_PROBE];
}

/** Agent manifests (one YAML stream). */
export function toManifests(stack: BenchStack, runId: string): string {
  const docs: object[] = [
    ...stack.networks.map((name) => ({ apiVersion: 'certitrack.io/v1', kind: 'Network', metadata: { name } })),
    ...stack.volumes.map((name) => ({ apiVersion: 'certitrack.io/v1', kind: 'Volume', metadata: { name } })),
    ...stack.services.map((s) => ({
      apiVersion: 'certitrack.io/v1',
      kind: 'Service',
      metadata: { name: s.name },
      spec: {
        image: IMAGE,
        pullPolicy: 'Never',
        command: commandOf(s.role),
        env: s.env ?? {},
        networks: s.networks ?? [],
        volumes: s.volumes ?? [],
        dependsOn: s.dependsOn ?? [],
        ...(s.health
          ? {
              healthcheck: {
                ...(s.health.command ? { command: s.health.command } : { http: { port: 8080, path: '/' } }),
                interval: s.health.interval,
                timeout: s.health.timeout,
                retries: s.health.retries,
              },
            }
          : {}),
        stopGracePeriod: '1s',
        labels: { [BENCH_LABEL]: runId },
      },
    })),
  ];
  return docs.map((d) => stringify(d, { aliasDuplicateObjects: false })).join('---\n');
}

/** Compose interpolates ${VAR} and $VAR in every value; `$$` is a literal dollar. */
const literal = (text: string): string => text.replace(/\$/g, '$$$$');

/** The equivalent docker-compose file (format 2.4: depends_on conditions, as compose 1.29 reads them). */
export function toCompose(stack: BenchStack, runId: string, restart: 'no' | 'unless-stopped' = 'no'): string {
  const services: Record<string, object> = {};
  for (const s of stack.services) {
    services[s.name] = {
      image: IMAGE,
      command: ['/bin/sh', '-c', literal(commandOf(s.role))],
      ...(s.env && Object.keys(s.env).length > 0 ? { environment: Object.fromEntries(Object.entries(s.env).map(([k, v]) => [k, literal(v)])) } : {}),
      ...(s.networks && s.networks.length > 0 ? { networks: s.networks } : {}),
      ...(s.volumes && s.volumes.length > 0 ? { volumes: s.volumes } : {}),
      ...(s.dependsOn && s.dependsOn.length > 0
        ? { depends_on: Object.fromEntries(s.dependsOn.map((d) => [d.service, { condition: d.condition === 'healthy' ? 'service_healthy' : 'service_started' }])) }
        : {}),
      ...(s.health ? { healthcheck: { test: healthTest(s.health).map(literal), interval: s.health.interval, timeout: s.health.timeout, retries: s.health.retries } } : {}),
      stop_grace_period: '1s',
      restart,
      labels: { [BENCH_LABEL]: runId },
    };
  }
  return stringify({
    version: '2.4',
    services,
    ...(stack.networks.length > 0 ? { networks: Object.fromEntries(stack.networks.map((n) => [n, {}])) } : {}),
    ...(stack.volumes.length > 0 ? { volumes: Object.fromEntries(stack.volumes.map((v) => [v, {}])) } : {}),
    // Compose reads YAML 1.1 (PyYAML): `no` must be quoted or it becomes false; no anchors either.
  }, { version: '1.1', aliasDuplicateObjects: false });
}

const nanos = (d: string): number => (parseDuration(d) ?? 0) * 1_000_000;

/** `docker run -d --restart <policy>` of one service, for the Docker-restart-policy peer. */
export function toDockerRun(s: BenchService, name: string, runId: string, restart: 'no' | 'unless-stopped'): ContainerCreateOptions {
  return {
    name,
    Image: IMAGE,
    Cmd: ['/bin/sh', '-c', commandOf(s.role)],
    Labels: { [BENCH_LABEL]: runId, [PEER_LABEL]: runId },
    StopTimeout: 1,
    ...(s.health ? { Healthcheck: { Test: healthTest(s.health), Interval: nanos(s.health.interval), Timeout: nanos(s.health.timeout), Retries: s.health.retries } } : {}),
    HostConfig: { RestartPolicy: { Name: restart } },
  };
}
