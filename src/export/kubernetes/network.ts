import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { ExportContext } from './context.js';
import { kubeName } from './names.js';

const LABEL_PREFIX = 'network.certitrack.io/';
/** On pods whose every network is internal: only those lose their route outside, as on Docker. */
const ISOLATED = `${LABEL_PREFIX}isolated`;

/** The labels that say which networks a pod is on (what the NetworkPolicies select). */
export function networkLabels(ctx: ExportContext, networks: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const n of networks) labels[`${LABEL_PREFIX}${kubeName(n)}`] = 'true';
  const internal = (n: string): boolean => ctx.state.get('Network', n)?.spec.internal === true;
  if (networks.length > 0 && networks.every(internal)) labels[ISOLATED] = 'true';
  return labels;
}

/**
 * Kubernetes has one flat pod network, so a Network is a label. An `internal: true` network (no
 * route outside the host) becomes a NetworkPolicy: its isolated pods may reach only pods on the
 * same network, and cluster DNS.
 */
export function exportNetworks(ctx: ExportContext): void {
  const networks = ctx.state.list('Network');
  const open = networks.filter((n) => !n.spec.internal);
  if (open.length > 1) {
    for (const n of open.slice(1))
      ctx.warn(n, `pods on different networks reach each other in Kubernetes (one flat pod network); only internal networks become NetworkPolicies`);
  }
  for (const net of networks) {
    if (!net.spec.internal) continue;
    const name = ctx.claim('NetworkPolicy', kubeName(net.name), net);
    if (name === undefined) continue;
    const member = `${LABEL_PREFIX}${name}`;
    ctx.add(
      net,
      new NetworkPolicy({
        metadata: { name },
        spec: {
          podSelector: { matchLabels: { [member]: 'true', [ISOLATED]: 'true' } },
          policyTypes: ['Egress'],
          egress: [
            { to: [{ podSelector: { matchLabels: { [member]: 'true' } } }] },
            {
              to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }],
              ports: [
                { protocol: 'UDP', port: 53 },
                { protocol: 'TCP', port: 53 },
              ],
            },
          ],
        },
      }),
    );
  }
}
