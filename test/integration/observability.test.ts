import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent.js';
import { cleanupInstance, eventually, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';
import { doc, toYaml, webService } from '../helpers/manifests.js';
import { exposedNames, metricNamesIn, promtool, startPrometheus, type PrometheusServer } from '../helpers/prometheus.js';

// Issue 14, item 6: the shipped alert rules, dashboard and scrape config, checked with Debian's
// promtool and prometheus against a real agent (git source, a Service, a Schedule, a Backup, a
// Certificate and an Alarm declared, so every per-resource series exists).
const contrib = fileURLToPath(new URL('../../contrib/', import.meta.url));
const ALERTS = join(contrib, 'prometheus/alerts.yaml');
const ALERT_TESTS = join(contrib, 'prometheus/alerts.test.yaml');
// Not checked against /metrics: its metric, certitrack_rollouts_total, comes with issue 11 (rollouts).
const SCRAPE = join(contrib, 'prometheus/scrape.yaml');
const DASHBOARD = join(contrib, 'grafana/certitrack-agent.json');
/** Made by Prometheus for every target, not exposed by the agent. */
const PROMETHEUS_SERIES = new Set(['up']);

interface RuleFile {
  groups: { name: string; rules: { alert: string; expr: string }[] }[];
}
interface RuleTests {
  tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}
interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string; datasource?: { uid: string } }[];
}
interface Dashboard {
  __inputs: { name: string; pluginId: string }[];
  panels: Panel[];
  templating: { list: { name: string; query: { query: string } }[] };
}

const rulesOf = async (file: string): Promise<RuleFile['groups'][number]['rules']> => (parse(await readFile(file, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);
const dashboard = async (): Promise<Dashboard> => JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard;
const dashboardExprs = async (): Promise<string[]> => (await dashboard()).panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
/** What Grafana would send for the dashboard's variables. */
const asGrafanaSends = (expr: string): string => expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*');

describe('shipped Prometheus rules (promtool)', () => {
  it('promtool check rules passes on every rules file, and check config on the scrape config', async () => {
    const rules = await promtool(['check', 'rules', ALERTS]);
    expect(rules.code, rules.output).toBe(0);
    expect(rules.output).toContain('SUCCESS: 12 rules found');
    const config = await promtool(['check', 'config', SCRAPE]);
    expect(config.code, config.output).toBe(0);
  });

  it('promtool test rules passes, with a firing and a non-firing case for every rule', async () => {
    const result = await promtool(['test', 'rules', ALERT_TESTS]);
    expect(result.code, result.output).toBe(0);
    for (const [rulesFile, testsFile] of [[ALERTS, ALERT_TESTS]] as const) {
      const cases = (parse(await readFile(testsFile, 'utf8')) as RuleTests).tests.flatMap((t) => t.alert_rule_test ?? []);
      for (const { alert } of await rulesOf(rulesFile)) {
        const mine = cases.filter((c) => c.alertname === alert);
        expect({ alert, firing: mine.some((c) => c.exp_alerts.length > 0), silent: mine.some((c) => c.exp_alerts.length === 0) }).toEqual({ alert, firing: true, silent: true });
      }
    }
  });

  it('promtool fails a rule file with a broken expression (the check can fail)', async () => {
    const dir = await tempDir('bad-rules');
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(certitrack_service_ready\n');
    const result = await promtool(['check', 'rules', bad]);
    await removeDir(dir);
    expect(result.code).not.toBe(0);
  });
});

describe('the Grafana dashboard', () => {
  it('has at least 6 panels, all on the ${DS_PROMETHEUS} input, laid out without overlaps', async () => {
    const d = await dashboard();
    expect(d.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', pluginId: 'prometheus' })]);
    const panels = d.panels.filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThanOrEqual(6);
    for (const p of panels) {
      expect(p.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
      expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
    }
    const cells = new Map<string, string>();
    for (const p of d.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.get(`${x},${y}`), `${p.title} overlaps`).toBeUndefined();
          cells.set(`${x},${y}`, p.title);
        }
      }
    }
  });
});

describe('against a running agent and a real Prometheus', () => {
  const instance = testInstance('obs');
  let bare: string;
  let work: string;
  let certs: string;
  let agent: Agent;
  let stateDir: string;
  let agentAddress: string;
  let exposition: string;
  let prometheus: PrometheusServer | undefined;

  const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

  beforeAll(async () => {
    [bare, work, certs] = [await tempDir('obs-bare'), await tempDir('obs-work'), await tempDir('obs-certs')];
    git(bare, 'init', '-q', '--bare', '-b', 'main');
    git(work, 'init', '-q', '-b', 'main');
    git(work, 'config', 'user.email', 'ops@example.com');
    git(work, 'config', 'user.name', 'ops');
    git(work, 'remote', 'add', 'origin', bare);
    await writeFile(
      join(work, 'stack.yaml'),
      toYaml([
        doc('Service', 'web', webService()),
        // Neither has run when the test looks: their series must be there anyway.
        doc('Schedule', 'report', { schedule: '0 3 1 1 *', exec: { service: 'web', command: 'true' } }),
        doc('Backup', 'files', { sources: [{ file: { path: './stack.yaml' } }], retention: { keepLast: 2 } }),
        doc('Certificate', 'site', { domains: ['site.test'], issuer: { selfSigned: {} }, certFile: join(certs, 'cert.pem'), keyFile: join(certs, 'key.pem') }),
        // No AWS here: the Alarm is Disabled, so out of sync.
        doc('Alarm', 'health', { metric: { namespace: 'CertiTrack', name: 'HealthCheck' }, evaluationPeriods: 1, threshold: 1, comparison: '<' }),
      ]),
    );
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'observability test stack');
    git(work, 'push', '-q', 'origin', 'main');
    // The certificate lives outside the checkout, where the host policy must allow it.
    const policyFile = join(await tempDir('obs-policy'), 'policy.yaml');
    await writeFile(policyFile, `allowedRoots: [${JSON.stringify(certs)}]\n`, { mode: 0o600 });
    const t = await startTestAgent('/nonexistent', instance, { policyFile, git: { url: bare, branch: 'main', pollIntervalMs: 60_000, subdir: undefined, credentialsFile: undefined } });
    agent = t.agent;
    stateDir = t.stateDir;
    await agent.run();
    agentAddress = `127.0.0.1:${agent.address!.port}`;
    await eventually('stack applied and ready', async () => agent.parts.controller.isApplied() && agent.notReadyServices().length === 0, 60_000);
    await eventually('certificate issued', async () => /certitrack_certificate_ready_status\{certificate="site",condition="True"\} 1/.test(await (await fetch(`http://${agentAddress}/metrics`)).text()), 30_000);
    exposition = await (await fetch(`http://${agentAddress}/metrics`)).text();
  });

  afterAll(async () => {
    await prometheus?.stop();
    await agent?.stop();
    await cleanupInstance(instance);
    for (const d of [bare, work, certs, stateDir]) if (d) await removeDir(d);
  });

  it('exposes every metric the rules and the dashboard use', async () => {
    const exposed = exposedNames(exposition);
    const used = new Map<string, string>();
    for (const rule of await rulesOf(ALERTS)) for (const name of metricNamesIn(rule.expr)) used.set(name, `rule ${rule.alert}`);
    for (const expr of await dashboardExprs()) for (const name of metricNamesIn(expr)) used.set(name, `dashboard: ${expr}`);
    // The extraction found the names, not nothing (and no function names).
    expect([...used.keys()]).toEqual(expect.arrayContaining(['up', 'certitrack_rollouts_total', 'certitrack_alarm_in_sync', 'certitrack_job_last_run_timestamp_seconds', 'certitrack_workqueue_queue_duration_seconds_bucket', 'process_cpu_seconds_total']));
    expect([...used.keys()].filter((n) => ['sum', 'rate', 'time', 'increase', 'histogram_quantile', 'le', 'instance'].includes(n))).toEqual([]);
    const missing = [...used].filter(([name]) => !PROMETHEUS_SERIES.has(name) && !exposed.has(name)).map(([name, where]) => `${name} (${where})`);
    expect(missing).toEqual([]);
  });

  it('initialises every series of the declared resources before anything has run', () => {
    for (const line of [
      'certitrack_job_runs_total{kind="Schedule",schedule="report",result="failure"} 0',
      'certitrack_job_last_success_timestamp_seconds{kind="Schedule",schedule="report"} 0',
      'certitrack_job_last_run_timestamp_seconds{kind="Backup",backup="files"} 0',
      'certitrack_backup_failures_total{backup="files",step="upload"} 0',
      'certitrack_backup_size_bytes{backup="files"} 0',
      'certitrack_service_restarts_total{service="web",reason="exited"} 0',
      'certitrack_certificate_issuances_total{certificate="site",result="failure"} 0',
      'certitrack_alarm_in_sync{alarm="health"} 0',
      'certitrack_workqueue_retries_total 0',
    ]) {
      expect(exposition).toContain(line);
    }
    expect(exposition).toMatch(/^certitrack_backup_age_seconds\{backup="files"\} \d/m);
    expect(exposition).toMatch(/^certitrack_build_info\{version="\d+\.\d+\.\d+",node_version="v\d+/m);
  });

  it("passes promtool check metrics, except prom-client's own nodejs_* default names", async () => {
    const lint = await promtool(['check', 'metrics'], exposition);
    const problems = lint.output.split('\n').filter((l) => l.trim() !== '' && !/^nodejs_active_(handles|requests|resources)_total non-counter/.test(l));
    expect(problems).toEqual([]);
  });

  it('is scraped by a real Prometheus that answers for certitrack_service_ready, loads the rules and evaluates the dashboard', async () => {
    const shipped = parse(await readFile(SCRAPE, 'utf8')) as { global: Record<string, string>; rule_files: string[]; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
    const job = shipped.scrape_configs.find((j) => j.job_name === 'certitrack-agent');
    expect(job).toBeDefined();
    prometheus = await startPrometheus({
      ...shipped,
      global: { ...shipped.global, scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: shipped.rule_files.map((f) => join(contrib, 'prometheus', f)),
      scrape_configs: [{ ...job, static_configs: [{ targets: [agentAddress] }] }],
    });
    const server = prometheus;

    const ready = await eventually('the first scrape', async () => {
      const result = await server.query('certitrack_service_ready');
      return result.length > 0 ? result : undefined;
    }, 60_000, 250);
    expect(ready).toEqual([{ metric: { __name__: 'certitrack_service_ready', job: 'certitrack-agent', instance: agentAddress, service: 'web' }, value: [expect.any(Number), '1'] }]);

    // Every shipped rule loaded and evaluates without error.
    const rules = await eventually('rules evaluated', async () => {
      const data = await server.api<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>('/api/v1/rules');
      const all = data.groups.flatMap((g) => g.rules);
      return all.length > 0 && all.every((r) => r.health === 'ok') ? all : undefined;
    }, 30_000, 250);
    expect(rules.map((r) => r.name).sort()).toEqual((await rulesOf(ALERTS)).map((r) => r.alert).sort());

    // A healthy agent raises nothing but what its set-up explains (no AWS: the Alarm is out of sync).
    await eventually('only the expected alert is active', async () => {
      const { alerts } = await server.api<{ alerts: { labels: { alertname: string } }[] }>('/api/v1/alerts');
      return alerts.map((a) => a.labels.alertname).join() === 'CertitrackAlarmOutOfSync';
    }, 30_000, 250);

    // Every dashboard query is valid PromQL and finds data on a freshly started agent.
    for (const expr of await dashboardExprs()) {
      const result = await eventually(`data for ${expr}`, async () => {
        const r = await server.query(asGrafanaSends(expr));
        return r.length > 0 ? r : undefined;
      }, 30_000, 250);
      expect(result.length, expr).toBeGreaterThan(0);
    }
    const variable = (await dashboard()).templating.list.find((v) => v.name === 'instance');
    const values = await server.api<string[]>(`/api/v1/label/instance/values?match[]=${encodeURIComponent('certitrack_build_info')}`);
    expect(variable?.query.query).toBe('label_values(certitrack_build_info, instance)');
    expect(values).toEqual([agentAddress]);
  });
});
