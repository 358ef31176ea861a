/**
 * The load during a deploy, in a process of its own (so the agent's event loop in the bench
 * process cannot slow it): GET http://127.0.0.1:PORT/ every INTERVAL ms, a fresh connection each
 * time, one JSON line per request on stdout: {t, ms, status, body} (status 0 = no response).
 * Stops on SIGTERM.
 *
 *   node --import tsx bench/lib/load-client.ts PORT [INTERVAL_MS]
 */
import { request } from 'node:http';

const port = Number(process.argv[2]);
const interval = Number(process.argv[3] ?? 10);
let running = true;
process.on('SIGTERM', () => (running = false));

function once(): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim().slice(0, 40) }));
      res.on('error', () => resolve({ status: 0, body: 'response error' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: err.message.slice(0, 40) }));
    req.end();
  });
}

while (running) {
  const t = Date.now();
  const start = performance.now();
  const r = await once();
  process.stdout.write(`${JSON.stringify({ t, ms: performance.now() - start, ...r })}\n`);
  const wait = interval - (performance.now() - start);
  if (wait > 0) await new Promise((res) => setTimeout(res, wait));
}
