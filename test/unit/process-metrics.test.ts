import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { registerBuildInfo, sharedProcessMetrics } from '../../src/metrics/process-metrics.js';
import { AgentHttpServer } from '../../src/server/http-server.js';
import { RequestRejections } from '../../src/server/rejections.js';
import pino from 'pino';

describe('process metrics and build info', () => {
  const servers: AgentHttpServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  const serve = async (registries: Registry[]): Promise<string> => {
    const security = { token: 't', allowedHosts: [], rejections: new RequestRejections(new Registry(), pino({ level: 'silent' })), scrub: (t: string) => t };
    const server = new AgentHttpServer({ registries, healthz: () => ({ ok: true, detail: {} }), readyz: () => ({ ok: true, detail: {} }), status: () => ({}), info: () => ({}), security });
    servers.push(server);
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
    return `http://127.0.0.1:${port}/metrics`;
  };

  it('collects Node.js default metrics once per process, under their standard names', async () => {
    expect(sharedProcessMetrics()).toBe(sharedProcessMetrics());
    const text = await sharedProcessMetrics().metrics();
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) expect(text).toContain(`\n${name} `);
    expect(text).not.toContain('certitrack_agent_');
  });

  it('serves the process metrics beside each agent registry, for several agents in one process', async () => {
    const agents = [new Registry(), new Registry()];
    for (const r of agents) registerBuildInfo(r, '1.2.3');
    const urls = [await serve([sharedProcessMetrics(), agents[0]!]), await serve([sharedProcessMetrics(), agents[1]!])];
    // Registered after the server was built (as the git metrics are): still exposed.
    new Counter({ name: 'certitrack_late_total', help: 'registered late', registers: [agents[1]!] });
    for (const url of urls) {
      const text = await (await fetch(url)).text();
      expect(text).toContain(`certitrack_build_info{version="1.2.3",node_version="${process.version}"} 1`);
      expect(text.match(/^process_resident_memory_bytes /gm)).toHaveLength(1);
    }
    expect(await (await fetch(urls[1]!)).text()).toContain('certitrack_late_total 0');
    expect(await (await fetch(urls[0]!)).text()).not.toContain('certitrack_late_total');
  });
});
