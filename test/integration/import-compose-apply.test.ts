import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCompose } from '../../src/import/compose.js';
import { BUSYBOX, cleanupInstance, createVolumeWithData, docker, inspect, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';

// What import-compose writes runs on the real engine as compose ran it: the secret file reached
// through *_FILE, the config, env_file values, a default, and an external volume with its data.
// The service checks each of them and exits 1 (crash-looping, never converging) if one is wrong.
const instance = testInstance('imp');
const external = `${instance}_pgdata`;
let dir: string;
let stateDir: string;

const compose = `
services:
  app:
    image: ${BUSYBOX}
    pull_policy: never
    restart: unless-stopped
    init: true
    stop_signal: SIGTERM
    env_file: ./app.env
    environment:
      DB_PASSWORD_FILE: /run/secrets/db_password
      GREETING: \${GREETING:-hello}
    secrets: [db_password]
    configs:
      - source: app_conf
        target: /etc/app.conf
    volumes: [data:/data]
    command:
      - sh
      - -c
      - >-
        test "$$(cat $$DB_PASSWORD_FILE)" = s3cret &&
        test "$$(cat /etc/app.conf)" = "mode=prod" &&
        test "$$(cat /data/marker)" = kept &&
        test "$$GREETING" = hello &&
        test "$$REGION" = eu &&
        test "$$API_TOKEN" = from-secrets-file &&
        exec sleep 600
secrets:
  db_password:
    file: ./manifests/secrets/db_password.txt
configs:
  app_conf:
    file: ./manifests/app.conf
volumes:
  data:
    external: true
    name: ${external}
`;

beforeAll(async () => {
  dir = await tempDir('import-apply');
  stateDir = await tempDir('state');
  await mkdir(join(dir, 'manifests', 'secrets'), { recursive: true });
  await writeFile(join(dir, 'manifests', 'secrets', 'db_password.txt'), 's3cret');
  await writeFile(join(dir, 'manifests', 'app.conf'), 'mode=prod');
  await writeFile(join(dir, 'app.env'), 'REGION=eu\nAPI_TOKEN=from-env-file\n');
  await writeFile(join(dir, 'secrets.env'), 'API_TOKEN=from-secrets-file\n');
  await createVolumeWithData(external, 'echo kept > /data/marker');
});

afterAll(async () => {
  await cleanupInstance(instance);
  await docker.getVolume(external).remove().catch(() => undefined);
  await removeDir(dir);
  await removeDir(stateDir);
});

describe('an imported compose file on the real engine', () => {
  it('runs with its secret, config, env_file, default and external volume', async () => {
    const result = importCompose(compose, { composeDir: dir, outputDir: join(dir, 'manifests') });
    // The secret-looking API_TOKEN of app.env became a secretRef (defined in secrets.env here).
    expect(result.secretKeys).toEqual(['API_TOKEN']);
    for (const [name, text] of result.files) await writeFile(join(dir, 'manifests', name), text);

    const t = await startTestAgent(join(dir, 'manifests'), instance, { stateDir, secretsFile: join(dir, 'secrets.env') });
    let converged: boolean;
    try {
      converged = (await t.agent.applyOnce(30_000)).converged;
    } finally {
      await t.agent.stop();
    }
    expect(converged).toBe(true);
    const app = await inspect(`${instance}-app`);
    expect(app.State.Running).toBe(true);
    expect(app.HostConfig.Init).toBe(true);
    expect((app.Config as { StopSignal?: string }).StopSignal).toBe('SIGTERM');
    expect(app.Mounts.find((m) => m.Destination === '/data')?.Name).toBe(external);
    expect(app.Mounts.find((m) => m.Destination === '/run/secrets/db_password')).toMatchObject({ Type: 'bind', RW: false });
  });
});
