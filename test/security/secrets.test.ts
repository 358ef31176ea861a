import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent.js';
import { configFrom } from '../../src/config.js';
import { secretForms } from '../../src/log.js';
import { buildAgent } from '../../src/main.js';
import { runCli } from '../helpers/cli.js';
import { adapter, cleanupInstance, eventually, removeDir, tempDir, testInstance } from '../helpers/docker.js';
import { doc, writeManifest } from '../helpers/manifests.js';
import { send } from './support/requests.js';

// Issue 12, "Scrubbing misses secrets": real secrets from every source, echoed by a real Schedule
// in a real busybox container, must appear nowhere the agent writes.
const instance = testInstance('sec-secrets');
const envName = `SEC_ENV_${Math.random().toString(36).slice(2, 8).toUpperCase()}`;
const SECRETS = {
  LONG: 'Lq8vT2mXzP4wRk',
  SHORT: 'QX7',
  QUOTED: 'he said "hi" \\ back\nslash-9Zr',
  FROM_ENV: 'EnvOnly-9fK3pQzW',
  FROM_FILE: 'FileOnly-7hJ2wQxV',
};
let dir: string;
let stateDir: string;
let agent: Agent;
const logLines: string[] = [];

/** Every secret in every form it could take in output: raw, JSON-escaped, twice escaped. */
const leaks = (text: string): string[] => Object.entries(SECRETS).flatMap(([k, v]) => secretForms(v).filter((f) => text.includes(f)).map((f) => `${k} as ${JSON.stringify(f)}`));

beforeAll(async () => {
  dir = await tempDir('sec-secrets');
  stateDir = await tempDir('sec-secrets-state');
  const secretsFile = join(stateDir, 'secrets.env');
  await writeFile(secretsFile, `# test secrets\nLONG=${SECRETS.LONG}\nexport SHORT='${SECRETS.SHORT}'\nQUOTED="he said \\"hi\\" \\\\ back\\nslash-9Zr"\n`, { mode: 0o600 });
  await writeFile(join(dir, 'token.txt'), `${SECRETS.FROM_FILE}\n`);
  process.env[envName] = SECRETS.FROM_ENV;
  await writeManifest(dir, 'job.yaml', [
    doc('Schedule', 'echo', {
      schedule: '0 3 * * *',
      run: {
        image: 'certitrack-test/busybox:latest',
        pullPolicy: 'Never',
        env: { A: { secretRef: 'LONG' }, B: { secretRef: 'SHORT' }, C: { secretRef: 'QUOTED' }, D: { secretRef: envName }, E: { file: './token.txt' } },
        // Raw, and as JSON the way a program would print it; then fail, so the output is the error too.
        command: 'echo "raw: $A $B $C $D $E"; printf \'{"c":"%s"}\\n\' "$(printf %s "$C" | sed \'s/\\\\/\\\\\\\\/g; s/"/\\\\"/g\' | sed \':a;N;$!ba;s/\\n/\\\\n/g\')"; echo "last: $A $B $D $E"; exit 3',
      },
    }),
  ]);
  const sink = new Writable({ write: (c: Buffer, _e, cb) => (logLines.push(...c.toString().split('\n').filter(Boolean)), cb()) });
  const config = { ...configFrom({ manifestsDir: dir, stateDir, instance, listen: '127.0.0.1:0', secretsFile, secretEnv: [envName] }), resyncMs: 60_000 };
  agent = await buildAgent(config, { docker: adapter, logTo: sink });
  await agent.run();
  await eventually('loaded', () => agent.lastLoad?.ok === true, 30_000);
});

afterAll(async () => {
  await agent?.stop();
  delete process.env[envName];
  await cleanupInstance(instance);
  await removeDir(dir);
  await removeDir(stateDir);
});

describe('secrets echoed by a real job', () => {
  it('the job really saw every value (its exit code says so), and run-now shows none of them', async () => {
    const r = await runCli(['run-now', 'Schedule/echo', '--state-dir', stateDir, '-o', 'json']);
    expect(r.code).toBe(1);
    const run = JSON.parse(r.stdout) as { exitCode: number; outputTail: string };
    expect(run.exitCode).toBe(3);
    expect(run.outputTail).toMatch(/raw: \*\*\* \*\*\* \*\*\* \*\*\* \*\*\*\n/);
    expect(run.outputTail).toContain('{"c":"***"}');
    expect(leaks(r.stdout + r.stderr)).toEqual([]);
  });

  it('appear nowhere: /status, status -o json, state.json, the log, in raw or escaped form', async () => {
    const status = await send({ socketPath: join(stateDir, 'agent.sock') }, 'GET', '/status');
    expect(status.body).toContain('Schedule');
    expect(leaks(status.body)).toEqual([]);
    const cli = await runCli(['status', '--state-dir', stateDir, '-o', 'json']);
    expect(cli.stdout).toContain('"echo"');
    expect(leaks(cli.stdout)).toEqual([]);
    await eventually('state.json has the run', async () => (await readFile(join(stateDir, 'state.json'), 'utf8')).includes('Schedule/echo'));
    expect(leaks(await readFile(join(stateDir, 'state.json'), 'utf8'))).toEqual([]);
    // A value with a quote, a backslash and a newline, logged by the agent's own logger (pino escapes it).
    agent.parts.log.warn({ detail: `oops ${SECRETS.QUOTED} and ${SECRETS.SHORT} and ${SECRETS.FROM_FILE}` }, `failed with ${SECRETS.FROM_ENV}`);
    await eventually('log line written', () => logLines.some((l) => l.includes('oops')));
    expect(leaks(logLines.join('\n'))).toEqual([]);
  });
});

describe('where secretRef may read from', () => {
  const validate = (folder: string, args: string[] = []) => runCli(['validate', folder, ...args]);

  it('never the agent\'s own settings or the AWS credentials, even from the secrets file', async () => {
    const f = await tempDir('sec-ref');
    try {
      await writeManifest(f, 's.yaml', [doc('Service', 'x', { image: 'certitrack-test/busybox:latest', env: { W: { secretRef: 'CERTITRACK_WEBHOOK_SECRET' }, K: { secretRef: 'AWS_SECRET_ACCESS_KEY' }, P: { secretRef: 'PATH' } } })]);
      const secrets = join(f, '.secrets.env');
      await writeFile(secrets, 'CERTITRACK_WEBHOOK_SECRET=webhook-secret-value\n', { mode: 0o600 });
      const r = await runCli(['validate', f, '--secrets-file', secrets], { AWS_SECRET_ACCESS_KEY: 'aws-secret-value-123' });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/s\.yaml:\d+:\d+: spec\.env\.W: secret CERTITRACK_WEBHOOK_SECRET cannot be referenced: .*agent's own configuration/);
      expect(r.stderr).toMatch(/spec\.env\.K: secret AWS_SECRET_ACCESS_KEY cannot be referenced: .*AWS setting/);
      expect(r.stderr).toMatch(/spec\.env\.P: secret PATH is not defined .*--secret-env PATH/);
      expect(r.stderr + r.stdout).not.toMatch(/webhook-secret-value|aws-secret-value/);
      // Allowing a forbidden name is refused outright.
      const allow = await runCli(['validate', f, '--secret-env', 'AWS_SECRET_ACCESS_KEY']);
      expect(allow.code).toBe(1);
      expect(allow.stderr).toMatch(/--secret-env: AWS_SECRET_ACCESS_KEY is an AWS setting/);
    } finally {
      await removeDir(f);
    }
  });

  it('warns about short values and loose file modes, and --strict makes them errors; a missing or malformed file is an error', async () => {
    const f = await tempDir('sec-strict');
    try {
      await writeManifest(f, 's.yaml', [doc('Service', 'x', { image: 'certitrack-test/busybox:latest', env: { S: { secretRef: 'SHORT' } } })]);
      const secrets = join(f, '.secrets.env');
      await writeFile(secrets, 'SHORT=abc\n');
      await chmod(secrets, 0o644);
      const warned = await validate(f, ['--secrets-file', secrets]);
      expect(warned.code).toBe(0);
      expect(warned.stderr).toMatch(/warning: .*secrets\.env:1:1: the secrets file has mode 0644/);
      expect(warned.stderr).toMatch(/warning: .*s\.yaml:\d+:\d+: spec\.env\.S: secret SHORT is 3 character\(s\) long/);
      const strict = await validate(f, ['--secrets-file', secrets, '--strict']);
      expect(strict.code).toBe(1);
      expect(strict.stderr).toMatch(/spec\.env\.S: secret SHORT is 3 character\(s\) long.*\(an error with --strict\)/);
      const missing = await validate(f, ['--secrets-file', join(f, 'nope.env')]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/error: secrets file .*nope\.env does not exist/);
      await writeFile(secrets, 'GOOD=fine-value-1\nthis line has the-secret-in-it\n');
      const malformed = await validate(f, ['--secrets-file', secrets]);
      expect(malformed.code).toBe(1);
      expect(malformed.stderr).toMatch(/secrets file .*: line 2: expected NAME=value/);
      expect(malformed.stderr).not.toContain('the-secret-in-it');
    } finally {
      await removeDir(f);
    }
  });
});
