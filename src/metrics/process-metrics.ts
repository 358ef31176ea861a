import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

let processRegistry: Registry | undefined;

/**
 * Node's standard `process_*` and `nodejs_*` metrics, unprefixed so stock Node.js dashboards work.
 * They describe the process, not an agent, and prom-client starts an event-loop-delay monitor and a
 * GC observer on every `collectDefaultMetrics` call that are never stopped: so they are collected
 * once per process, in this registry, and merged into each agent's /metrics at scrape time (tests
 * and the benchmarks build many agents in one process).
 */
export function sharedProcessMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** `certitrack_build_info`, shaped as Prometheus' own `prometheus_build_info`: value 1, the facts in labels. */
export function registerBuildInfo(registry: Registry, version: string): void {
  new Gauge({
    name: 'certitrack_build_info',
    help: 'The running agent: its version and the Node.js version (value 1).',
    labelNames: ['version', 'node_version'],
    registers: [registry],
  }).set({ version, node_version: process.version }, 1);
}
