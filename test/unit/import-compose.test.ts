import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { parseInterpolation, splitCommandLine, toShellWord } from '../../src/import/compose-interpolation.js';
import { composeSize } from '../../src/import/compose-service.js';
import { importCompose } from '../../src/import/compose.js';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { DEFAULT_POLICY, hostRules } from '../../src/manifests/host-policy.js';

const SEED = readFileSync(new URL('../fixtures/seed-docker-compose.yml', import.meta.url), 'utf8');
const tmp = mkdtempSync(join(tmpdir(), 'import-compose-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec: Record<string, unknown> };
const docsOf = (text: string | undefined): Manifest[] => parseAllDocuments(text ?? '').map((d) => d.toJS() as Manifest);
const specOf = (files: Map<string, string>, file: string): Record<string, unknown> => {
  const [doc] = docsOf(files.get(file));
  expect(doc?.kind, file).toBe('Service');
  return (doc as Manifest).spec;
};

/**
 * Writes the manifests into a fresh folder and loads them with the agent's own loader. Build
 * contexts outside the output folder stay where compose had them: the host policy allows that root.
 */
async function validate(files: Map<string, string>, dir: string, secrets: Record<string, string>) {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
  return loadManifests(dir, { secrets: new StaticSecrets(secrets), displayBase: dir, rules: hostRules({ ...DEFAULT_POLICY, allowedRoots: [tmp] }) });
}

const SEED_SECRETS = {
  DB_PASSWORD: 'x',
  JWT_SECRET: 'x',
  REDIS_PASSWORD: 'x',
  SMTP_HOST: 'x',
  SMTP_PORT: 'x',
  SMTP_USERNAME: 'x',
  SMTP_PASSWORD: 'x',
};

describe('importing the seed docker-compose.yml', () => {
  const composeDir = join(tmp, 'seed', 'app');
  const outputDir = join(tmp, 'seed', 'app', 'manifests');
  const { files, warnings } = importCompose(SEED, { composeDir, outputDir, projectName: 'certitrack' });

  it('writes one file per service plus networks and volumes', () => {
    expect([...files.keys()].sort()).toEqual(
      ['backend.yaml', 'frontend.yaml', 'networks.yaml', 'nginx.yaml', 'notification-worker.yaml', 'postgres.yaml', 'redis.yaml', 'volumes.yaml'].sort(),
    );
    expect(docsOf(files.get('networks.yaml'))).toEqual([
      { apiVersion: 'certitrack.io/v1', kind: 'Network', metadata: { name: 'certitrack-network' }, spec: { driver: 'bridge' } },
    ]);
    expect(docsOf(files.get('volumes.yaml')).map((d) => d.metadata.name)).toEqual(['postgres_data', 'redis_data']);
  });

  it('turns every ${VAR} into a secret reference and inlines no value', () => {
    const backend = specOf(files, 'backend.yaml');
    expect(backend.env).toMatchObject({
      GIN_MODE: 'release',
      DB_PORT: '5432',
      DB_PASSWORD: { secretRef: 'DB_PASSWORD' },
      JWT_SECRET: { secretRef: 'JWT_SECRET' },
      SMTP_PASSWORD: { secretRef: 'SMTP_PASSWORD' },
    });
    expect(specOf(files, 'postgres.yaml').env).toMatchObject({ POSTGRES_PASSWORD: { secretRef: 'DB_PASSWORD' } });
    for (const [name, text] of files) {
      for (const doc of docsOf(text)) {
        for (const value of Object.values((doc.spec.env ?? {}) as Record<string, unknown>)) {
          if (typeof value === 'string') expect(value, name).not.toMatch(/\$/);
        }
      }
    }
  });

  it('runs redis through a shell that expands REDIS_PASSWORD from a secret, exactly as compose substituted it', () => {
    const redis = specOf(files, 'redis.yaml');
    expect(redis.command).toBe('exec redis-server --appendonly yes --requirepass "${REDIS_PASSWORD}"');
    expect(redis.env).toEqual({ REDIS_PASSWORD: { secretRef: 'REDIS_PASSWORD' } });
    expect(warnings).toContainEqual(expect.stringMatching(/^service "redis": command: interpolates REDIS_PASSWORD/));

    // Run the translated command line with a stand-in redis-server that prints its argv: the
    // password arrives as one argument, unchanged, however awkward its characters.
    const bin = join(tmp, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'redis-server'), '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n', { mode: 0o755 });
    const password = `p@ss w"rd $HOME 'x' \\ *`;
    const out = execFileSync('/bin/sh', ['-c', redis.command as string], { env: { PATH: `${bin}:/usr/bin:/bin`, REDIS_PASSWORD: password }, encoding: 'utf8' });
    expect(out.split('\n').slice(0, -1)).toEqual(['--appendonly', 'yes', '--requirepass', password]);
  });

  it('maps build, ports, volumes, networks, dependsOn and restart', () => {
    expect(specOf(files, 'frontend.yaml')).toMatchObject({
      image: 'certitrack-frontend:latest',
      // Outside the manifests folder, so written absolute (relative paths may not climb out of it).
      build: { context: join(composeDir, 'frontend'), dockerfile: 'Dockerfile' },
      restartPolicy: 'Always',
      networks: ['certitrack-network'],
    });
    expect(specOf(files, 'notification-worker.yaml').build).toEqual({ context: join(composeDir, 'backend'), dockerfile: 'Dockerfile.worker' });
    expect(specOf(files, 'nginx.yaml')).toMatchObject({
      image: 'nginx:alpine',
      ports: ['80:80', '443:443'],
      volumes: [`${composeDir}/nginx/nginx.conf:/etc/nginx/nginx.conf:ro`, `${composeDir}/nginx/ssl:/etc/nginx/ssl:ro`, `${composeDir}/storage/documents:/app/storage/documents:ro`],
      dependsOn: ['frontend', 'backend'],
    });
    expect(specOf(files, 'postgres.yaml')).toMatchObject({ ports: ['5432:5432'], volumes: expect.arrayContaining(['postgres_data:/var/lib/postgresql/data']) });
  });

  it('warns about what it dropped or kept but considers dangerous', () => {
    for (const service of ['nginx', 'frontend', 'backend', 'postgres', 'redis', 'notification-worker']) {
      expect(warnings).toContainEqual(expect.stringMatching(new RegExp(`^service "${service}": container_name: dropped`)));
    }
    expect(warnings).toContainEqual(expect.stringMatching(/^version: not translated/));
    expect(warnings).toContainEqual(expect.stringMatching(/^service "postgres": ports: "5432:5432" publishes PostgreSQL on every interface.*127\.0\.0\.1:5432:5432/));
    expect(warnings).toContainEqual(expect.stringMatching(/^service "redis": ports: "6379:6379" publishes Redis on every interface/));
    expect(warnings).toContainEqual(expect.stringMatching(/^volume "postgres_data": compose kept its data in Docker volume "certitrack_postgres_data"/));
    expect(warnings.filter((w) => w.startsWith('service "nginx"'))).toHaveLength(1);
    // The service's own warnings head its file, where a reviewer sees them.
    expect(files.get('postgres.yaml')).toMatch(/^# - ports: "5432:5432" publishes PostgreSQL/m);
  });

  it('produces manifests the agent loads and validates', async () => {
    mkdirSync(join(composeDir, 'frontend'), { recursive: true });
    mkdirSync(join(composeDir, 'backend'), { recursive: true });
    const result = await validate(files, outputDir, SEED_SECRETS);
    expect(result.ok ? [] : result.errors).toEqual([]);
    if (!result.ok) return;
    expect(result.state.list('Service').map((s) => s.name).sort()).toEqual(['backend', 'frontend', 'nginx', 'notification-worker', 'postgres', 'redis']);
    expect(result.state.get('Service', 'redis')?.spec.command).toEqual(['/bin/sh', '-c', 'exec redis-server --appendonly yes --requirepass "${REDIS_PASSWORD}"']);
    expect(result.state.get('Service', 'nginx')?.spec.dependsOn).toEqual([
      { service: 'frontend', condition: 'started' },
      { service: 'backend', condition: 'started' },
    ]);
  });

  it('fails validation when a referenced secret is missing, so no value was silently inlined', async () => {
    const { JWT_SECRET: _omitted, ...rest } = SEED_SECRETS;
    const result = await validate(files, join(tmp, 'seed', 'app', 'manifests-missing'), rest);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map((e) => e.message)).toContainEqual(expect.stringContaining('secret JWT_SECRET is not defined'));
  });
});

describe('importing other compose features', () => {
  const compose = `
name: Shop
services:
  Web.App:
    build: ./web
    command: ["node", "server.js", "--port", "8080"]
    environment:
      PLAIN: "value with $$dollar"
      DATABASE_URL: postgres://app:\${DB_PASSWORD}@db:5432/app
      WITH_DEFAULT: \${LOG_LEVEL:-info}
      REQUIRED: \${API_KEY:?set it}
      PASSTHROUGH:
      NUMBER: 3
    env_file: .env
    ports:
      - target: 8080
        published: 8080
        host_ip: 127.0.0.1
      - "9000-9010:9000-9010"
    volumes:
      - type: bind
        source: ./static
        target: /srv/static
        read_only: true
      - cache:/cache:rw,z
      - /just/anonymous
    networks:
      front:
        aliases: [web, www]
    depends_on:
      db:
        condition: service_healthy
      queue:
        condition: service_started
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://localhost:8080/health"]
      interval: 30s
      timeout: 5s
      retries: 5
      start_period: 1m
      start_interval: 2s
    deploy:
      resources:
        limits: { memory: 512M, cpus: "0.5" }
        reservations: { memory: 128M }
      replicas: 2
    logging:
      driver: json-file
      options: { max-size: 20M, max-file: "5", compress: "true" }
    labels: ["team=shop", "tier=web"]
    working_dir: /srv
    user: "1000:1000"
    stop_grace_period: 45s
    restart: on-failure:3
    privileged: true
    cap_add: [NET_ADMIN]
    extra_hosts: ["host.docker.internal:host-gateway"]
  db:
    image: postgres:15
    healthcheck:
      test: pg_isready -U \${DB_USER:-app}
    restart: always
    networks: [front]
  queue:
    image: redis:\${REDIS_TAG:-7}
    entrypoint: redis-server --port 6380
volumes:
  cache:
    driver: local
networks:
  front:
    internal: true
x-common: &common
  restart: always
`;
  const { files, warnings } = importCompose(compose, { composeDir: join(tmp, 'shop'), outputDir: join(tmp, 'shop') });
  const web = specOf(files, 'web-app.yaml');

  it('sanitizes names and keeps every reference consistent', () => {
    expect(docsOf(files.get('web-app.yaml'))[0]?.metadata.name).toBe('web-app');
    expect(web.image).toBe('certitrack-web-app:latest');
    expect(warnings).toContainEqual('service "Web.App" is named "web-app" in the manifests (names are lower-case letters, digits, "-" and "_")');
  });

  it('translates environment values as literal or single references, warning where that is not exact', () => {
    expect(web.env).toEqual({
      PLAIN: 'value with $dollar',
      DATABASE_URL: { secretRef: 'DATABASE_URL' },
      WITH_DEFAULT: { secretRef: 'LOG_LEVEL' },
      REQUIRED: { secretRef: 'API_KEY' },
      PASSTHROUGH: { secretRef: 'PASSTHROUGH' },
      NUMBER: '3',
    });
    expect(warnings).toContainEqual(expect.stringMatching(/^service "Web.App": environment.DATABASE_URL: .*mixes text with DB_PASSWORD.*define DATABASE_URL in the secrets file/));
    expect(warnings).toContainEqual(expect.stringMatching(/^service "Web.App": environment.WITH_DEFAULT: default "info" .* define LOG_LEVEL/));
    expect(warnings).toContainEqual('service "Web.App": env_file: not translated');
  });

  it('maps ports, mounts, networks, dependencies, healthcheck, limits, logging and the rest', () => {
    expect(web).toMatchObject({
      build: { context: './web' },
      command: ['node', 'server.js', '--port', '8080'],
      ports: ['127.0.0.1:8080:8080'],
      volumes: ['./static:/srv/static:ro', 'cache:/cache'],
      networks: [{ name: 'front', aliases: ['web', 'www'] }],
      dependsOn: [{ service: 'db', condition: 'healthy' }, 'queue'],
      healthcheck: { command: ['wget', '-q', '-O-', 'http://localhost:8080/health'], interval: '30s', timeout: '5s', retries: 5, startPeriod: '1m' },
      resources: { memory: '512Mi', cpus: 0.5 },
      logging: { maxSize: '20m', maxFile: 5 },
      labels: { team: 'shop', tier: 'web' },
      workingDir: '/srv',
      user: '1000:1000',
      stopGracePeriod: '45s',
      restartPolicy: 'OnFailure',
    });
    const db = specOf(files, 'db.yaml');
    expect(db.healthcheck).toEqual({ command: 'pg_isready -U ${DB_USER:-app}' });
    expect(db.env).toEqual({ DB_USER: { secretRef: 'DB_USER' } });
    const queue = specOf(files, 'queue.yaml');
    expect(queue).toMatchObject({ image: 'redis:7', entrypoint: ['redis-server', '--port', '6380'], restartPolicy: 'Never', networks: ['default'] });
    expect(docsOf(files.get('networks.yaml')).map((d) => [d.metadata.name, d.spec])).toEqual([
      ['front', { driver: 'bridge', internal: true }],
      ['default', { driver: 'bridge' }],
    ]);
  });

  it('lists every key it could not translate, naming service and key', () => {
    const expected = [
      'service "Web.App": privileged: not translated',
      'service "Web.App": cap_add: not translated',
      'service "Web.App": extra_hosts: not translated',
      'service "Web.App": deploy.replicas: not translated',
      'service "Web.App": deploy.resources.reservations: not translated',
      'service "Web.App": healthcheck.start_interval: not translated',
      'service "Web.App": logging.options.compress: not translated',
      'x-common: top-level section not translated',
    ];
    for (const w of expected) expect(warnings).toContainEqual(w);
    expect(warnings).toContainEqual(expect.stringMatching(/^service "Web.App": ports: "9000-9010:9000-9010" is not translated/));
    expect(warnings).toContainEqual(expect.stringMatching(/^service "Web.App": volumes: anonymous volume "\/just\/anonymous"/));
    expect(warnings).toContainEqual(expect.stringMatching(/^service "Web.App": volumes: "cache:\/cache:rw,z": mount options z/));
    expect(warnings).toContainEqual(expect.stringMatching(/^service "Web.App": restart: the retry limit of "on-failure:3"/));
    expect(warnings).toContainEqual(expect.stringMatching(/^service "queue": image: "redis:\$\{REDIS_TAG:-7\}" interpolates REDIS_TAG/));
    expect(warnings).toContainEqual(expect.stringMatching(/^volume "cache": compose kept its data in Docker volume "shop_cache"/));
  });

  it('produces manifests the agent loads and validates', async () => {
    mkdirSync(join(tmp, 'shop', 'web'), { recursive: true });
    // Relative bind mounts inside the manifests folder must exist when it is loaded.
    mkdirSync(join(tmp, 'shop', 'static'), { recursive: true });
    const result = await validate(files, join(tmp, 'shop'), { DATABASE_URL: 'x', LOG_LEVEL: 'x', API_KEY: 'x', PASSTHROUGH: 'x', DB_USER: 'x' });
    expect(result.ok ? [] : result.errors).toEqual([]);
  });

  it('rejects what is not a compose file', () => {
    expect(() => importCompose('services: [a, b]\n')).toThrow(/no services mapping/);
    expect(() => importCompose('services:\n  a: {\n')).toThrow(/not valid YAML/);
  });
});

describe('compose interpolation helpers', () => {
  it('finds variables and unescapes $$', () => {
    expect(parseInterpolation('a $$b ${C} $D ${E:-x} $1')).toEqual([
      { kind: 'text', text: 'a $b ' },
      { kind: 'variable', name: 'C', source: '${C}' },
      { kind: 'text', text: ' ' },
      { kind: 'variable', name: 'D', source: '$D' },
      { kind: 'text', text: ' ' },
      { kind: 'variable', name: 'E', operator: ':-', argument: 'x', source: '${E:-x}' },
      { kind: 'text', text: ' $1' },
    ]);
  });

  it('splits command lines as compose does and quotes words for the shell', () => {
    expect(splitCommandLine(`sh -c 'echo "hi there"' a\\ b "c\\"d"`)).toEqual(['sh', '-c', 'echo "hi there"', 'a b', 'c"d']);
    expect(() => splitCommandLine('echo "open')).toThrow(/unterminated/);
    expect(toShellWord('plain-word')).toBe('plain-word');
    expect(toShellWord("it's")).toBe(`'it'\\''s'`);
    expect(toShellWord('pre-${X}-"q"')).toBe('"pre-${X}-\\"q\\""');
  });

  it('writes compose sizes with explicit binary units', () => {
    expect(composeSize('512M')).toBe('512Mi');
    expect(composeSize('1g')).toBe('1Gi');
    expect(composeSize('300kb')).toBe('300Ki');
    expect(composeSize('1048576')).toBe(1048576);
    expect(composeSize('lots')).toBeUndefined();
  });

  it('round-trips through YAML as the loader reads it', () => {
    const { files } = importCompose('services:\n  a:\n    image: busybox\n    command: echo yes no on off 80:80\n');
    expect(parse(files.get('a.yaml') ?? '').spec.command).toEqual(['echo', 'yes', 'no', 'on', 'off', '80:80']);
  });
});
