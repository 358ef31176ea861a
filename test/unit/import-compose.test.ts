import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { parseInterpolation, splitCommandLine, toShellWord } from '../../src/import/compose-interpolation.js';
import { composeSize } from '../../src/import/compose-service.js';
import { importCompose } from '../../src/import/compose.js';
import { looksSecret } from '../../src/import/secret-values.js';
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
  const { files, warnings, secretKeys } = importCompose(SEED, { composeDir, outputDir, projectName: 'certitrack' });

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
      // Outside the manifests folder, so written absolute (relative paths may not climb out of it), with a warning.
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
    expect(warnings).toContainEqual(
      `service "frontend": build.context: ./frontend is outside the manifests folder, so it is written as this machine's path ${join(composeDir, 'frontend')}; move it into the manifests folder to keep the manifests portable`,
    );
    expect(warnings).toContainEqual(expect.stringMatching(/^service "nginx": volumes: \.\/nginx\/nginx\.conf is outside the manifests folder/));
  });

  it('lists the secrets the secrets file must define', () => {
    expect(secretKeys).toEqual(Object.keys(SEED_SECRETS).sort());
  });

  it('warns about what it dropped or kept but considers dangerous', () => {
    for (const service of ['nginx', 'frontend', 'backend', 'postgres', 'redis', 'notification-worker']) {
      expect(warnings).toContainEqual(expect.stringMatching(new RegExp(`^service "${service}": container_name: dropped`)));
    }
    expect(warnings).toContainEqual(expect.stringMatching(/^version: not translated/));
    expect(warnings).toContainEqual(expect.stringMatching(/^service "postgres": ports: "5432:5432" publishes PostgreSQL on every interface.*127\.0\.0\.1:5432:5432/));
    expect(warnings).toContainEqual(expect.stringMatching(/^service "redis": ports: "6379:6379" publishes Redis on every interface/));
    expect(warnings).toContainEqual(expect.stringMatching(/^volume "postgres_data": compose kept its data in Docker volume "certitrack_postgres_data"/));
    // container_name and the three bind mounts outside the manifests folder.
    expect(warnings.filter((w) => w.startsWith('service "nginx"'))).toHaveLength(4);
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
        mode: host
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
        restart: true
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
  const { files, warnings, notes } = importCompose(compose, { composeDir: join(tmp, 'shop'), outputDir: join(tmp, 'shop') });
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
      WITH_DEFAULT: 'info',
      REQUIRED: { secretRef: 'API_KEY' },
      PASSTHROUGH: { secretRef: 'PASSTHROUGH' },
      NUMBER: '3',
    });
    expect(warnings).toContainEqual(expect.stringMatching(/^service "Web.App": environment.DATABASE_URL: .*mixes text with DB_PASSWORD.*define DATABASE_URL in the secrets file/));
    expect(notes).toContainEqual(expect.stringMatching(/^service "Web.App": environment.WITH_DEFAULT: reads compose's default "info" of \$\{LOG_LEVEL\}/));
    expect(warnings).toContainEqual(expect.stringMatching(/^service "Web.App": env_file: .env cannot be read/));
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
    // The shell in the container applies the default, as compose did: DB_USER is not required.
    expect(db.env).toBeUndefined();
    expect(notes).toContainEqual(expect.stringMatching(/^service "db": command\/healthcheck: DB_USER is left to the container's shell, which applies compose's default/));
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
      'service "Web.App": ports.mode: option of port 8080 not translated',
      'service "Web.App": depends_on.queue.restart: not translated',
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
    const result = await validate(files, join(tmp, 'shop'), { DATABASE_URL: 'x', API_KEY: 'x', PASSTHROUGH: 'x' });
    expect(result.ok ? [] : result.errors).toEqual([]);
  });

  it('rejects what is not a compose file', () => {
    expect(() => importCompose('services: [a, b]\n')).toThrow(/no services mapping/);
    expect(() => importCompose('services:\n  a: {\n')).toThrow(/not valid YAML/);
  });
});

interface Case {
  /** Files to create beside the compose file first (relative path → content). */
  given?: Record<string, string>;
  /** Where the manifests go, relative to the compose file's folder. */
  out?: string;
  profiles?: string[];
  /** Values for the secrets file the loader checks secretRefs against. */
  secrets?: Record<string, string>;
}

/**
 * Imports `compose` from a fresh folder, writes the manifests where the CLI would and loads them
 * with the agent's own loader: every case must produce manifests that validate.
 */
async function importCase(name: string, compose: string, c: Case = {}) {
  const composeDir = join(tmp, 'cases', name);
  const outputDir = join(composeDir, c.out ?? 'manifests');
  for (const [file, text] of Object.entries(c.given ?? {})) {
    mkdirSync(dirname(join(composeDir, file)), { recursive: true });
    writeFileSync(join(composeDir, file), text);
  }
  const result = importCompose(compose, { composeDir, outputDir, projectName: name, ...(c.profiles ? { profiles: c.profiles } : {}) });
  const loaded = await validate(result.files, outputDir, c.secrets ?? {});
  expect(loaded.ok ? [] : loaded.errors.map((e) => `${e.file}:${e.line}: ${e.path}: ${e.message}`)).toEqual([]);
  const names = (kind: 'Service' | 'Volume') => (loaded.ok ? loaded.state.list(kind).map((r) => r.name).sort() : []);
  return { ...result, composeDir, outputDir, loaded, names, spec: (file: string) => specOf(result.files, file) };
}

describe('profiles', () => {
  const compose = `
services:
  web:
    image: busybox
    restart: always
    depends_on: [adminer]
  adminer:
    image: busybox
    restart: always
    profiles: [debug]
  backfill:
    image: busybox
    restart: always
    profiles: [jobs, nightly]
`;

  it('leaves out services of profiles that were not selected, as docker compose up does', async () => {
    const r = await importCase('profiles-none', compose);
    expect(r.names('Service')).toEqual(['web']);
    expect([...r.files.keys()].sort()).toEqual(['networks.yaml', 'web.yaml']);
    expect(r.notes).toContainEqual('service "adminer": not imported: it is in profile debug, which docker compose up also leaves out (--profile debug imports it)');
    expect(r.notes).toContainEqual(expect.stringMatching(/^service "backfill": not imported: it is in profile jobs, nightly/));
    // The dependency on a left-out service cannot be kept: said, and dropped, so the manifests validate.
    expect(r.spec('web.yaml').dependsOn).toBeUndefined();
    expect(r.warnings).toContainEqual(expect.stringMatching(/^service "web": depends_on.adminer: "adminer" is in profile debug, which was not selected/));
  });

  it('imports the services of each --profile given, and of every profile with *', async () => {
    const debug = await importCase('profiles-debug', compose, { profiles: ['debug'] });
    expect(debug.names('Service')).toEqual(['adminer', 'web']);
    expect(debug.spec('web.yaml').dependsOn).toEqual(['adminer']);
    expect(debug.warnings).toEqual([]);
    const two = await importCase('profiles-two', compose, { profiles: ['debug', 'nightly'] });
    expect(two.names('Service')).toEqual(['adminer', 'backfill', 'web']);
    const typo = await importCase('profiles-typo', compose, { profiles: ['debgu'] });
    expect(typo.names('Service')).toEqual(['web']);
    expect(typo.warnings).toContainEqual('--profile debgu: no service is in this profile');
    const all = await importCase('profiles-all', compose, { profiles: ['*'] });
    expect(all.names('Service')).toEqual(['adminer', 'backfill', 'web']);
    expect(all.notes).toEqual([]);
  });
});

describe('env_file', () => {
  const compose = `
services:
  api:
    image: busybox
    restart: always
    env_file:
      - ./common.env
      - path: ./api.env
      - path: ./local.env
        required: false
    environment:
      LOG_LEVEL: debug
  worker:
    image: busybox
    restart: always
    env_file: ./missing.env
`;
  const given = {
    'common.env': '# shared\nLOG_LEVEL=info\nREGION=eu\nDB_HOST=db\nDB_PASSWORD=hunter2\n',
    'api.env': 'REGION="us"\nAPI_TOKEN=abc123\nDATABASE_URL=postgres://app:hunter2@db/app\nGREETING=\'hello world\'\nPOSTGRES_PASSWORD_FILE=/run/secrets/db\n',
  };

  it("merges the files in order, environment last, and moves secret-looking values into secretRefs", async () => {
    const r = await importCase('env-file', compose, { given, secrets: { DB_PASSWORD: 'x', API_TOKEN: 'x', DATABASE_URL: 'x' } });
    expect(r.spec('api.yaml').env).toEqual({
      LOG_LEVEL: 'debug', // environment wins over both files
      REGION: 'us', // the later file wins
      DB_HOST: 'db',
      DB_PASSWORD: { secretRef: 'DB_PASSWORD' },
      API_TOKEN: { secretRef: 'API_TOKEN' },
      DATABASE_URL: { secretRef: 'DATABASE_URL' }, // a password inside a URL
      GREETING: 'hello world',
      POSTGRES_PASSWORD_FILE: '/run/secrets/db', // a path, not a secret
    });
    expect(r.secretKeys).toEqual(['API_TOKEN', 'DATABASE_URL', 'DB_PASSWORD']);
    for (const text of r.files.values()) expect(text).not.toContain('hunter2');
    expect(r.notes).toContainEqual('service "api": env_file: ./common.env: DB_PASSWORD looks secret and became secretRefs: move its value from ./common.env into the secrets file');
    expect(r.notes).toContainEqual(expect.stringMatching(/^service "api": env_file: \.\/api\.env: API_TOKEN, DATABASE_URL look secret/));
    expect(r.notes).toContainEqual(expect.stringMatching(/^service "api": env_file: \.\/local\.env does not exist and is optional/));
    // A required env file that is missing: compose would not start the service.
    expect(r.warnings).toContainEqual(expect.stringMatching(/^service "worker": env_file: \.\/missing\.env cannot be read/));
    // The /run/secrets path that nothing mounts is a broken translation, and said so.
    expect(r.warnings).toContainEqual(expect.stringMatching(/^service "api": environment.POSTGRES_PASSWORD_FILE: points at \/run\/secrets\/db, which nothing mounts/));
  });

  it('fails to load without the secrets, so no value was silently dropped', async () => {
    const composeDir = join(tmp, 'cases', 'env-file');
    const { files } = importCompose(compose, { composeDir, outputDir: join(composeDir, 'manifests') });
    const result = await validate(files, join(composeDir, 'manifests-without-secrets'), {});
    expect(result.ok ? [] : result.errors.map((e) => e.message)).toEqual(
      expect.arrayContaining(['secret API_TOKEN is not defined in the secrets file or the agent\'s environment']),
    );
  });
});

describe('secrets and configs', () => {
  const compose = `
services:
  db:
    image: postgres:15
    restart: always
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
      API_KEY_FILE: /run/secrets/api_key
    secrets:
      - db_password
      - source: tls_key
        target: server.key
        mode: 0400
      - api_key
      - swarm_only
    configs:
      - pg_conf
      - source: pg_hba
        target: /etc/postgresql/pg_hba.conf
      - inline
  other:
    image: busybox
    restart: always
    secrets: [undeclared, outside]
secrets:
  db_password:
    file: ./manifests/secrets/db_password.txt
  tls_key:
    file: ./manifests/secrets/tls.key
  api_key:
    environment: API_KEY
  swarm_only:
    external: true
  outside:
    file: ./elsewhere/secret.txt
configs:
  pg_conf:
    file: ./manifests/postgresql.conf
  pg_hba:
    file: ./manifests/pg_hba.conf
    labels: { a: b }
  inline:
    content: "x = 1"
`;
  const given = {
    'manifests/secrets/db_password.txt': 's3cret\n',
    'manifests/secrets/tls.key': 'key\n',
    'manifests/postgresql.conf': 'listen_addresses = *\n',
    'manifests/pg_hba.conf': 'local all all trust\n',
    'elsewhere/secret.txt': 'far\n',
  };

  it('mounts file-based ones read-only where compose puts them, so *_FILE variables keep working', async () => {
    const r = await importCase('files', compose, { given, secrets: { API_KEY: 'x' } });
    const db = r.spec('db.yaml');
    expect(db.volumes).toEqual([
      './secrets/db_password.txt:/run/secrets/db_password:ro',
      './secrets/tls.key:/run/secrets/server.key:ro',
      './postgresql.conf:/pg_conf:ro',
      './pg_hba.conf:/etc/postgresql/pg_hba.conf:ro',
    ]);
    expect(db.env).toEqual({ POSTGRES_PASSWORD_FILE: '/run/secrets/db_password', API_KEY: { secretRef: 'API_KEY' } });
    const other = r.spec('other.yaml');
    expect(other.volumes).toEqual([`${join(r.composeDir, 'elsewhere/secret.txt')}:/run/secrets/outside:ro`]);
  });

  it('says what it cannot translate: external, environment-sourced, inline and undeclared ones, and file modes', async () => {
    const r = await importCase('files-warnings', compose, { given, secrets: { API_KEY: 'x' } });
    expect(r.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^service "db": secrets.api_key: comes from host variable API_KEY, which the agent cannot write to \/run\/secrets\/api_key: API_KEY_FILE became API_KEY = \{ secretRef: API_KEY \}/),
        expect.stringMatching(/^service "db": secrets.swarm_only: secret "swarm_only" is external .*not translated$/),
        expect.stringMatching(/^service "db": secrets.tls_key.mode: not translated: the file is bind-mounted with its owner and mode on the host$/),
        expect.stringMatching(/^service "db": configs.inline: config "inline" has inline content: .*; not translated$/),
        'service "other": secrets.undeclared: secret "undeclared" is not declared at the top level; not translated',
        expect.stringMatching(/^service "other": secrets.outside: \.\/elsewhere\/secret\.txt is outside the manifests folder/),
        'config "pg_hba": labels: not translated',
      ]),
    );
  });
});

describe('interpolation defaults', () => {
  const compose = `
services:
  app:
    image: busybox
    restart: always
    environment:
      LOG_LEVEL: \${LOG_LEVEL:-info}
      WORKERS: \${WORKERS-4}
      EMPTY_DEFAULT: \${OPTIONAL:-}
      DB_PASSWORD: \${DB_PASSWORD:-devpassword}
      DB_URL: \${DB_URL:-postgres://app:devpassword@db/app}
      REQUIRED: \${API_HOST:?set API_HOST}
      REQUIRED_UNSET_ONLY: \${API_PORT?}
      NESTED: \${A:-\${B}}
      CACHE_URL: redis://:hunter2@\${REDIS_HOST}:6379
`;

  it('keeps a literal default, references secret-looking ones without copying the default, and keeps required ones required', async () => {
    const r = await importCase('defaults', compose, { secrets: { DB_PASSWORD: 'x', DB_URL: 'x', API_HOST: 'x', API_PORT: 'x', A: 'x', CACHE_URL: 'x' } });
    expect(r.spec('app.yaml').env).toEqual({
      LOG_LEVEL: 'info',
      WORKERS: '4',
      EMPTY_DEFAULT: '',
      DB_PASSWORD: { secretRef: 'DB_PASSWORD' },
      DB_URL: { secretRef: 'DB_URL' },
      REQUIRED: { secretRef: 'API_HOST' },
      REQUIRED_UNSET_ONLY: { secretRef: 'API_PORT' },
      NESTED: { secretRef: 'A' },
      CACHE_URL: { secretRef: 'CACHE_URL' },
    });
    for (const text of [...r.files.values(), ...r.warnings, ...r.notes]) expect(text).not.toMatch(/devpassword|hunter2/);
    expect(r.notes).toContainEqual(expect.stringMatching(/^service "app": environment.DB_PASSWORD: DB_PASSWORD looks secret, so its compose default was not copied/));
    expect(r.notes).toContainEqual(expect.stringMatching(/^service "app": environment.WORKERS: reads compose's default "4"/));
    expect(r.warnings).toEqual([
      expect.stringMatching(/^service "app": environment.NESTED: the default of \$\{A:-\$\{B\}\} is itself interpolated/),
      'service "app": environment.CACHE_URL: the value mixes text with REDIS_HOST; it now reads secret CACHE_URL: define CACHE_URL in the secrets file as the full value',
    ]);
    expect(r.secretKeys).toEqual(['A', 'API_HOST', 'API_PORT', 'CACHE_URL', 'DB_PASSWORD', 'DB_URL']);
  });
});

describe('external volumes', () => {
  const compose = `
services:
  db:
    image: busybox
    restart: always
    volumes: [pgdata:/var/lib/postgresql/data, legacy:/legacy, Shared.Data:/shared, own:/own]
volumes:
  pgdata:
    external: true
    name: prod_pgdata
  legacy:
    external: { name: old-volume }
  Shared.Data:
    external: true
  own: {}
`;

  it("keep their real Docker names and are never the agent's own", async () => {
    const r = await importCase('external', compose);
    expect(docsOf(r.files.get('volumes.yaml')).map((d) => [d.metadata.name, d.spec])).toEqual([
      ['pgdata', { external: true, name: 'prod_pgdata' }],
      ['legacy', { external: true, name: 'old-volume' }],
      ['shared-data', { external: true, name: 'Shared.Data' }],
      ['own', { driver: 'local' }],
    ]);
    expect(r.loaded.ok && r.loaded.state.get('Volume', 'pgdata')?.spec).toMatchObject({ external: true, name: 'prod_pgdata' });
    expect(r.notes).toContainEqual('volume "pgdata": external, so the agent mounts Docker volume "prod_pgdata" by that name and never creates or removes it');
    // Only the agent's own volume needs its data copied.
    expect(r.warnings.filter((w) => w.includes('copy the data'))).toEqual([expect.stringMatching(/^volume "own": compose kept its data in Docker volume "external_own"/)]);
  });

  it('a Volume name without external: true is rejected by the loader', async () => {
    const dir = join(tmp, 'cases', 'volume-name-only');
    const result = await validate(new Map([['v.yaml', 'apiVersion: certitrack.io/v1\nkind: Volume\nmetadata: { name: v }\nspec: { name: real }\n']]), dir, {});
    expect(result.ok ? [] : result.errors.map((e) => `${e.path}: ${e.message}`)).toEqual(['spec.name: name is only for external volumes (external: true)']);
  });
});

describe('restart', () => {
  it("maps a missing restart to compose's default Never, warning that nothing will heal the service", async () => {
    const r = await importCase(
      'restart',
      `
services:
  missing: { image: busybox }
  explicit-no: { image: busybox, restart: "no" }
  swarm: { image: busybox, deploy: { restart_policy: { max_attempts: 3 } } }
`,
    );
    expect([r.spec('missing.yaml').restartPolicy, r.spec('explicit-no.yaml').restartPolicy, r.spec('swarm.yaml').restartPolicy]).toEqual(['Never', 'Never', 'Always']);
    expect(r.warnings.filter((w) => w.includes('restart: not set'))).toEqual([
      'service "missing": restart: not set, and compose\'s default is "no": restartPolicy is Never, so the agent will not restart it when it exits or crashes. For a long-running service write restart: unless-stopped (restartPolicy: Always)',
    ]);
  });
});

describe('paths', () => {
  const compose = `
services:
  web:
    build: ./manifests/web
    image: web:1
    restart: always
    volumes:
      - ./manifests/static:/srv/static:ro
      - ./data:/data
      - /var/log/host:/host-logs:ro
`;

  it('stay relative to the manifests folder; outside it they are absolute, with a warning; absolute ones stay as written', async () => {
    const r = await importCase('paths', compose, { given: { 'manifests/web/Dockerfile': 'FROM scratch\n', 'manifests/static/index.html': 'hi\n' } });
    expect(r.spec('web.yaml')).toMatchObject({
      build: { context: './web' },
      volumes: ['./static:/srv/static:ro', `${join(r.composeDir, 'data')}:/data`, '/var/log/host:/host-logs:ro'],
    });
    expect(r.warnings).toEqual([expect.stringMatching(/^service "web": volumes: \.\/data is outside the manifests folder, so it is written as this machine's path /)]);
    for (const text of r.files.values()) expect(text.replaceAll(join(r.composeDir, 'data'), '')).not.toContain(tmp);
  });

  it('a fully translatable compose file has no warnings at all (exit 0)', async () => {
    const r = await importCase('clean', `
services:
  web:
    image: busybox
    restart: unless-stopped
    init: true
    stop_signal: SIGQUIT
    expose: ["8080", "9000/tcp", 3000]
    networks: [front]
networks:
  front: {}
`);
    expect(r.warnings).toEqual([]);
    expect(r.spec('web.yaml')).toMatchObject({ init: true, stopSignal: 'SIGQUIT', expose: [8080, 9000, 3000], restartPolicy: 'Always' });
    expect(r.files.get('web.yaml')).toContain('expose: [ 8080, 9000, 3000 ]');
  });
});

describe('init, stop_signal and expose', () => {
  it('warns about what the agent cannot expose or signal', async () => {
    const r = await importCase('expose', `
services:
  dns:
    image: busybox
    restart: always
    init: false
    stop_signal: graceful
    expose: ["53/udp", "7000-7005", "8080"]
`);
    const dns = r.spec('dns.yaml');
    expect(dns.expose).toEqual([8080]);
    expect(dns.init).toBeUndefined();
    expect(dns.stopSignal).toBeUndefined();
    expect(r.warnings).toEqual([
      'service "dns": expose: "53/udp" is not translated: the agent exposes TCP ports only',
      'service "dns": expose: "7000-7005" is not translated: the agent exposes single TCP ports (no ranges)',
      'service "dns": stop_signal: "graceful" is not a signal name such as SIGQUIT; not translated',
    ]);
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

  it('judges secrets by name and value, erring on the side of a secret', () => {
    const secret = ['DB_PASSWORD', 'MYSQL_ROOT_PASSWORD', 'API_KEY', 'SECRET_KEY_BASE', 'GITHUB_TOKEN', 'SMTP_PASS', 'SENTRY_DSN', 'aws_secret_access_key', 'PRIVATE_KEY'];
    const plain = ['KEYCLOAK_URL', 'PASSENGER_COUNT', 'POSTGRES_PASSWORD_FILE', 'DB_HOST', 'LOG_LEVEL', 'MONKEY'];
    expect(secret.filter((n) => !looksSecret(n))).toEqual([]);
    expect(plain.filter((n) => looksSecret(n))).toEqual([]);
    expect(looksSecret('DATABASE_URL', 'postgres://app:hunter2@db/app')).toBe(true);
    expect(looksSecret('CACHE', 'redis://:hunter2@cache:6379')).toBe(true);
    expect(looksSecret('CERT', '-----BEGIN PRIVATE KEY-----')).toBe(true);
    expect(looksSecret('HOMEPAGE', 'https://example.com/a:b@c')).toBe(false);
  });

  it('writes compose sizes with explicit binary units', () => {
    expect(composeSize('512M')).toBe('512Mi');
    expect(composeSize('1g')).toBe('1Gi');
    expect(composeSize('300kb')).toBe('300Ki');
    expect(composeSize('1048576')).toBe(1048576);
    expect(composeSize('lots')).toBeUndefined();
  });

  it('round-trips through YAML as the loader reads it', async () => {
    const r = await importCase('round-trip', 'services:\n  a:\n    image: busybox\n    restart: always\n    command: echo yes no on off 80:80\n');
    expect(parse(r.files.get('a.yaml') ?? '').spec.command).toEqual(['echo', 'yes', 'no', 'on', 'off', '80:80']);
    expect(r.loaded.ok && r.loaded.state.get('Service', 'a')?.spec.command).toEqual(['echo', 'yes', 'no', 'on', 'off', '80:80']);
  });
});
