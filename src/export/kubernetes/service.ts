import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { Service, type IContainerPort, type IPodSpec, type IServicePort } from 'kubernetes-models/v1';
import type { PortMapping, ServiceSpec } from '../../manifests/kinds/service.js';
import type { Resource } from '../../manifests/resource.js';
import { certificateSecretName } from './certificate.js';
import type { ExportContext } from './context.js';
import { NAME_LABEL, validLabels } from './labels.js';
import { kubeName } from './names.js';
import { networkLabels } from './network.js';
import { PodVolumes, POD_DEFAULTS, probes } from './pod.js';
import { serviceContainer } from './service-pod.js';
import { seconds } from './units.js';

interface ContainerPortSpec {
  port: number;
  protocol: 'TCP' | 'UDP';
}

const portName = (p: { port: number; protocol: string }): string => `${p.protocol.toLowerCase()}-${p.port}`;
const isLoopback = (ip: string): boolean => ip.startsWith('127.') || ip === '::1';

export function exportServices(ctx: ExportContext): void {
  for (const svc of ctx.state.list('Service')) exportService(ctx, svc);
}

/**
 * A Service becomes a workload (a StatefulSet when it writes to a named volume: a ReadWriteOnce
 * claim cannot be attached to a second pod during a rolling update; otherwise a Deployment that
 * starts the new pod before stopping the old one), a Kubernetes Service under its own name for
 * every port it is known to listen on, and a LoadBalancer or Ingress for the ports it publishes.
 */
function exportService(ctx: ExportContext, svc: Resource<ServiceSpec>): void {
  const spec = svc.spec;
  const stateful = spec.volumes.some((v) => v.type === 'volume' && !v.readOnly);
  const name = ctx.claim(stateful ? 'StatefulSet' : 'Deployment', kubeName(svc.name), svc);
  if (name === undefined) return;

  const pod = new PodVolumes();
  const ports = containerPorts(spec);
  const main = {
    ...serviceContainer(ctx, svc, pod),
    ...(ports.length > 0 ? { ports: ports.map((p): IContainerPort => ({ name: portName(p), containerPort: p.port, protocol: p.protocol })) } : {}),
    ...(spec.healthcheck ? probes(spec.healthcheck) : {}),
  };
  const annotations = validLabels(ctx, svc, spec.labels, 'annotation');
  const selector = { [NAME_LABEL]: name };
  const podSpec: IPodSpec = {
    ...POD_DEFAULTS,
    containers: [main],
    terminationGracePeriodSeconds: seconds(spec.stopGracePeriod),
    // Docker's init: the pause container becomes PID 1, reaping zombies, and the application
    // (no longer PID 1) gets the default action for SIGTERM even without a handler.
    ...(spec.init ? { shareProcessNamespace: true } : {}),
    ...(pod.list().length > 0 ? { volumes: pod.list() } : {}),
  };
  const template = {
    metadata: {
      labels: { ...selector, ...networkLabels(ctx, spec.networks.map((n) => n.name)) },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: podSpec,
  };
  const labels = validLabels(ctx, svc, svc.labels);
  const metadata = { name, ...(Object.keys(labels).length > 0 ? { labels } : {}) };
  ctx.add(
    svc,
    stateful
      ? new StatefulSet({ metadata, spec: { replicas: 1, serviceName: name, selector: { matchLabels: selector }, template } })
      : new Deployment({
          metadata,
          spec: {
            replicas: 1,
            selector: { matchLabels: selector },
            strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
            template,
          },
        }),
  );

  exportClusterServices(ctx, svc, name, selector, ports);
  exportPublishedPorts(ctx, svc, name, selector);
  warnUntranslated(ctx, svc, stateful);
}

/** Every port the container is known to listen on: published ones, `expose`, the http healthcheck's. */
export function containerPorts(spec: ServiceSpec): ContainerPortSpec[] {
  const all: ContainerPortSpec[] = [
    ...spec.ports.map((p) => ({ port: p.containerPort, protocol: p.protocol === 'udp' ? ('UDP' as const) : ('TCP' as const) })),
    ...spec.expose.map((port) => ({ port, protocol: 'TCP' as const })),
    ...(spec.healthcheck?.http ? [{ port: spec.healthcheck.http.port, protocol: 'TCP' as const }] : []),
  ];
  const seen = new Set<string>();
  return all.filter((p) => !seen.has(portName(p)) && seen.add(portName(p)));
}

/** The Service other pods reach by name, as containers on a Docker network do, plus one per network alias. */
function exportClusterServices(ctx: ExportContext, svc: Resource<ServiceSpec>, name: string, selector: Record<string, string>, ports: ContainerPortSpec[]): void {
  if (ports.length === 0) {
    if (svc.spec.networks.length > 0)
      ctx.warn(svc, 'no port is known (ports, expose or an http healthcheck), so no Kubernetes Service is made and other pods cannot reach it by name; add spec.expose: [PORT] if they connect to it');
    return;
  }
  const servicePorts = ports.map((p): IServicePort => ({ name: portName(p), port: p.port, targetPort: p.port, protocol: p.protocol }));
  const names: { name: string; path: (string | number)[] }[] = [{ name, path: ['metadata', 'name'] }];
  svc.spec.networks.forEach((n, i) => n.aliases.forEach((alias, j) => names.push({ name: alias.toLowerCase().replace(/_/g, '-'), path: ['spec', 'networks', i, 'aliases', j] })));
  for (const wanted of names) {
    const serviceName = ctx.claim('Service', wanted.name, svc, wanted.path);
    if (serviceName === undefined) continue;
    ctx.add(svc, new Service({ metadata: { name: serviceName }, spec: { type: 'ClusterIP', selector, ports: servicePorts } }));
  }
}

/** Published ports: a LoadBalancer Service, or with --ingress an Ingress; loopback-only ones stay unexposed. */
function exportPublishedPorts(ctx: ExportContext, svc: Resource<ServiceSpec>, name: string, selector: Record<string, string>): void {
  const published = svc.spec.ports.filter((p) => !isLoopback(p.hostIp));
  for (const p of svc.spec.ports.filter((p) => isLoopback(p.hostIp)))
    ctx.warn(svc, `${p.hostIp}:${p.hostPort} is published on the host's loopback only, so it is not exposed outside the cluster: reach it with kubectl port-forward svc/${name} ${p.hostPort}:${p.containerPort}`);
  if (published.length === 0) return;
  for (const p of published.filter((p) => p.hostIp !== '0.0.0.0' && p.hostIp !== '::'))
    ctx.warn(svc, `port ${p.hostPort} is published on ${p.hostIp} only; in Kubernetes it listens on the load balancer's addresses`);
  if (ctx.options.ingress) exportIngress(ctx, svc, name, published);
  else exportLoadBalancer(ctx, svc, name, selector, published);
}

function exportLoadBalancer(ctx: ExportContext, svc: Resource<ServiceSpec>, name: string, selector: Record<string, string>, published: PortMapping[]): void {
  const lbName = ctx.claim('Service', `${name}-public`, svc, ['spec', 'ports']);
  if (lbName === undefined) return;
  const ports = published.map((p): IServicePort => {
    const protocol = p.protocol === 'udp' ? 'UDP' : 'TCP';
    return { name: portName({ port: p.hostPort, protocol }), port: p.hostPort, targetPort: p.containerPort, protocol };
  });
  ctx.add(svc, new Service({ metadata: { name: lbName }, spec: { type: 'LoadBalancer', selector, ports } }));
}

/**
 * An Ingress for the domains of the Certificates this service reloads (the ones it serves), TLS
 * terminated by the ingress controller with cert-manager's Secret, HTTP forwarded to the port the
 * service publishes as 80 (else its first TCP port).
 */
function exportIngress(ctx: ExportContext, svc: Resource<ServiceSpec>, name: string, published: PortMapping[]): void {
  const tcp = published.filter((p) => p.protocol === 'tcp');
  const http = tcp.find((p) => p.hostPort === 80) ?? tcp[0];
  if (!http) {
    ctx.warn(svc, 'publishes only UDP ports, which an Ingress cannot route: export without --ingress for a LoadBalancer');
    return;
  }
  const ingressName = ctx.claim('Ingress', name, svc, ['spec', 'ports']);
  if (ingressName === undefined) return;
  const certificates = ctx.state.list('Certificate').filter((c) => c.spec.reload.some((r) => r.service === svc.name));
  const hosts = [...new Set(certificates.flatMap((c) => c.spec.domains))];
  const backend = { service: { name, port: { number: http.containerPort } } };
  const paths = [{ path: '/', pathType: 'Prefix' as const, backend }];
  for (const p of tcp.filter((p) => p !== http))
    ctx.warn(svc, `port ${p.hostPort} is not routed: the Ingress terminates TLS${certificates.length > 0 ? ' with the Certificate\'s Secret' : ''} and forwards plain HTTP to port ${http.containerPort}; a server there that redirects HTTP to HTTPS must trust X-Forwarded-Proto (or export without --ingress)`);
  ctx.add(
    svc,
    new Ingress({
      metadata: { name: ingressName },
      spec: {
        ...(ctx.options.ingressClass ? { ingressClassName: ctx.options.ingressClass } : {}),
        rules: hosts.length > 0 ? hosts.map((host) => ({ host, http: { paths } })) : [{ http: { paths } }],
        ...(certificates.length > 0 ? { tls: certificates.map((c) => ({ hosts: c.spec.domains, secretName: certificateSecretName(c) })) } : {}),
      },
    }),
  );
}

function warnUntranslated(ctx: ExportContext, svc: Resource<ServiceSpec>, stateful: boolean): void {
  const spec = svc.spec;
  if (spec.dependsOn.length > 0) {
    const deps = spec.dependsOn.map((d) => `${d.service}${d.condition === 'healthy' ? ' (healthy)' : ''}`).join(', ');
    ctx.warn(svc, `dependsOn ${deps}: Kubernetes starts pods in any order and does not wait, so the application must retry until they answer (or add an initContainer that waits)`);
  }
  if (spec.build) ctx.warn(svc, `the agent builds ${spec.image} from ${spec.build.context}: build and push it to a registry the cluster pulls from`);
  else if (spec.pullPolicy === 'Never') ctx.warn(svc, `pullPolicy Never: ${spec.image} must already be on every node that may run the pod`);
  if (spec.restartPolicy !== 'Always') ctx.warn(svc, `restartPolicy ${spec.restartPolicy}: a ${stateful ? 'StatefulSet' : 'Deployment'} always restarts its pod`);
  if (spec.stopSignal) ctx.warn(svc, `stopSignal ${spec.stopSignal}: Kubernetes sends the image's STOPSIGNAL (else SIGTERM); put STOPSIGNAL ${spec.stopSignal} in the image`);
}
