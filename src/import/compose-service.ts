import { parseByteSize } from '../manifests/kinds/common.js';
import { parsePort, parseVolumeMount } from '../manifests/kinds/service.js';
import { parseDuration } from '../util/duration.js';
import { isObj, keyValues, listOf, scalar, warnUnknownKeys, type EnvValue, type Json, type Obj, type ServiceContext } from './compose-context.js';
import { translateEnv } from './compose-env.js';
import { translateFileMounts } from './compose-file-sources.js';
import { looksSecret } from './secret-values.js';
import { literalText, parseInterpolation, splitCommandLine, toShellWord, variablesIn, type VariableSegment } from './compose-interpolation.js';

/** Ports that are databases and caches: published on every interface they invite the internet to log in. */
const DATABASE_PORTS: Readonly<Record<number, string>> = {
  5432: 'PostgreSQL', 3306: 'MySQL', 6379: 'Redis', 27017: 'MongoDB', 9200: 'Elasticsearch', 11211: 'Memcached', 1433: 'SQL Server', 5672: 'RabbitMQ',
};

/** Compose service keys translated here; every other key becomes a "not translated" warning. */
const HANDLED = new Set([
  'image', 'build', 'command', 'entrypoint', 'environment', 'ports', 'volumes', 'networks', 'depends_on', 'restart',
  'healthcheck', 'container_name', 'deploy', 'mem_limit', 'cpus', 'logging', 'labels', 'working_dir', 'user',
  'stop_grace_period', 'pull_policy', 'expose', 'profiles', 'env_file', 'secrets', 'configs', 'init', 'stop_signal',
]);

/**
 * Translates one compose service into a Service spec (the fields of src/manifests/kinds/service.ts,
 * before defaults). Everything that cannot be carried over exactly is reported through ctx.warn.
 */
export function translateService(name: string, raw: Obj, ctx: ServiceContext): Obj {
  const spec: Obj = {};
  const env: Record<string, EnvValue> = {};
  /** Variables a command or healthcheck now expands in the container, so the container needs them. */
  const shellVariables: VariableSegment[] = [];

  const image = scalar(raw.image);
  if (image !== undefined) spec.image = plain(image, 'image', ctx);
  if (raw.build !== undefined && raw.build !== null) {
    const build = translateBuild(raw.build, ctx);
    if (build) {
      spec.build = build;
      spec.image ??= `certitrack-${ctx.services.get(name)}:latest`;
    }
  }
  if (spec.image === undefined) {
    ctx.warn('image', 'neither image nor build is set; fill in spec.image');
    spec.image = 'REPLACE-ME';
  }

  for (const [key, field] of [['command', 'command'], ['entrypoint', 'entrypoint']] as const) {
    if (raw[key] === undefined || raw[key] === null) continue;
    const cmd = translateCommand(raw[key], key, ctx, shellVariables);
    if (cmd !== undefined) spec[field] = cmd;
  }

  const workingDir = scalar(raw.working_dir);
  if (workingDir !== undefined) {
    if (workingDir.startsWith('/')) spec.workingDir = plain(workingDir, 'working_dir', ctx);
    else ctx.warn('working_dir', `"${workingDir}" is not an absolute path; not translated`);
  }
  const user = scalar(raw.user);
  if (user !== undefined) spec.user = plain(user, 'user', ctx);

  Object.assign(env, translateEnv(raw, ctx));

  const ports = translatePorts(raw.ports, ctx);
  if (ports.length > 0) spec.ports = ports;
  const expose = translateExpose(raw.expose, ctx);
  if (expose.length > 0) spec.expose = expose;

  const volumes = translateVolumes(raw.volumes, ctx);
  const files = translateFileMounts(raw.secrets, raw.configs, { sources: ctx.fileSources, env, hostPath: ctx.hostPath, warn: ctx.warn });
  for (const name of files.dropEnv) delete env[name];
  Object.assign(env, files.env);
  volumes.push(...files.volumes);
  if (volumes.length > 0) spec.volumes = volumes;
  warnUnmountedSecretPaths(env, volumes, ctx);

  spec.networks = translateNetworks(raw.networks, ctx);

  const deps = translateDependsOn(raw.depends_on, ctx);
  if (deps.length > 0) spec.dependsOn = deps;

  if (raw.healthcheck !== undefined) {
    const hc = translateHealthcheck(raw.healthcheck, ctx, shellVariables);
    if (hc) spec.healthcheck = hc;
  }

  spec.restartPolicy = translateRestart(raw, ctx);
  if (raw.init === true) spec.init = true;
  else if (raw.init !== undefined && raw.init !== false) ctx.warn('init', `expected true or false; not translated`);
  const stopSignal = scalar(raw.stop_signal);
  if (stopSignal !== undefined) {
    if (/^(SIG[A-Z0-9]+|[0-9]{1,2})$/.test(stopSignal)) spec.stopSignal = stopSignal;
    else ctx.warn('stop_signal', `"${stopSignal}" is not a signal name such as SIGQUIT; not translated`);
  }

  const grace = scalar(raw.stop_grace_period);
  if (grace !== undefined) {
    if (parseDuration(grace) !== undefined) spec.stopGracePeriod = grace;
    else ctx.warn('stop_grace_period', `"${grace}" is not a duration the agent reads (e.g. 30s); not translated`);
  }

  const pull = scalar(raw.pull_policy);
  if (pull !== undefined) {
    const policy = ({ always: 'Always', never: 'Never', missing: 'IfNotPresent', if_not_present: 'IfNotPresent' } as Record<string, string>)[pull];
    if (policy) spec.pullPolicy = policy;
    else ctx.warn('pull_policy', `"${pull}" has no equivalent; the default IfNotPresent applies`);
  }

  const resources = translateResources(raw, ctx);
  if (Object.keys(resources).length > 0) spec.resources = resources;

  const labels = translateLabels(raw.labels, ctx);
  if (Object.keys(labels).length > 0) spec.labels = labels;

  const logging = translateLogging(raw.logging, ctx);
  if (logging) spec.logging = logging;

  if (raw.container_name !== undefined) {
    ctx.warn('container_name', `dropped: the agent names containers itself (was "${scalar(raw.container_name) ?? ''}")`);
  }

  for (const variable of requiredShellVariables(shellVariables, ctx)) {
    const existing = env[variable];
    if (existing === undefined) env[variable] = { secretRef: variable };
    else if (typeof existing === 'string' || existing.secretRef !== variable) {
      ctx.warn('environment', `${variable} is both set in environment and expanded from the host in a command; the command now sees the environment's value`);
    }
  }
  if (Object.keys(env).length > 0) spec.env = env;

  for (const key of Object.keys(raw)) {
    if (!HANDLED.has(key)) ctx.warn(key, 'not translated');
  }
  return orderSpec(spec);
}

/**
 * The variables a command or healthcheck now expands in the container, which the container's
 * environment must therefore provide (as secretRefs). One that always has a default
 * (`${VAR:-x}`) and does not look secret is left to the shell, which applies the same default.
 */
function requiredShellVariables(vars: readonly VariableSegment[], ctx: ServiceContext): string[] {
  const hasDefault = (v: VariableSegment): boolean => v.operator === ':-' || v.operator === '-';
  const names = [...new Set(vars.map((v) => v.name))];
  const optional = names.filter((n) => !looksSecret(n) && vars.every((v) => v.name !== n || hasDefault(v)));
  for (const n of optional) ctx.note('command/healthcheck', `${n} is left to the container's shell, which applies compose's default; if the host set ${n} for compose, add it to env`);
  return names.filter((n) => !optional.includes(n));
}

/** A field that cannot hold a variable reference: the default is used if compose had one. */
function plain(value: string, key: string, ctx: ServiceContext): string {
  const vars = variablesIn(value);
  if (vars.length === 0) return literalText(value);
  const resolved = parseInterpolation(value)
    .map((s) => (s.kind === 'text' ? s.text : s.operator === ':-' || s.operator === '-' ? (s.argument ?? '') : s.source))
    .join('');
  ctx.warn(key, `"${value}" interpolates ${vars.map((v) => v.name).join(', ')} from the host; manifests have no host variables, so it reads "${resolved}": check it`);
  return resolved;
}

function translateBuild(raw: Json, ctx: ServiceContext): Obj | undefined {
  if (typeof raw === 'string') return { context: ctx.hostPath(plain(raw, 'build', ctx), 'build') };
  if (!isObj(raw)) {
    ctx.warn('build', 'expected a path or a mapping; not translated');
    return undefined;
  }
  const build: Obj = { context: ctx.hostPath(plain(scalar(raw.context) ?? '.', 'build.context', ctx), 'build.context') };
  const dockerfile = scalar(raw.dockerfile);
  if (dockerfile !== undefined) build.dockerfile = plain(dockerfile, 'build.dockerfile', ctx);
  const args = keyValues(raw.args, 'build.args', ctx);
  if (Object.keys(args).length > 0) {
    const out: Obj = {};
    for (const [k, v] of Object.entries(args)) out[k] = v === undefined ? '' : plain(v, `build.args.${k}`, ctx);
    build.args = out;
  }
  for (const key of Object.keys(raw)) if (!['context', 'dockerfile', 'args'].includes(key)) ctx.warn(`build.${key}`, 'not translated');
  return build;
}

/**
 * A compose command is split into words without a shell. Without variables it stays a list; with
 * variables it becomes a shell command line (`exec …`), so the shell in the container expands
 * them from its environment, where they arrive as secret references.
 */
function translateCommand(raw: Json, key: string, ctx: ServiceContext, shellVariables: VariableSegment[]): Json | undefined {
  let words: string[];
  if (typeof raw === 'string') {
    try {
      words = splitCommandLine(raw);
    } catch (err) {
      ctx.warn(key, `${(err as Error).message}; not translated`);
      return undefined;
    }
  } else if (Array.isArray(raw) && raw.every((w) => scalar(w) !== undefined)) {
    words = raw.map((w) => scalar(w) as string);
  } else {
    ctx.warn(key, 'expected a string or a list of strings; not translated');
    return undefined;
  }
  if (words.length === 0) return undefined;
  const vars = words.flatMap(variablesIn);
  if (vars.length === 0) return words.map(literalText);
  if (key === 'entrypoint') {
    ctx.warn(key, `interpolates ${names(vars)} from the host; an entrypoint is not run through a shell, so it is kept literally: rewrite it`);
    return words.map(literalText);
  }
  shellVariables.push(...vars);
  ctx.warn(
    key,
    `interpolates ${names(vars)} from the host, which manifests cannot do: it now runs as "/bin/sh -c 'exec …'" and the shell expands ` +
      `${names(vars)} from the container's environment, given as secretRef. The image needs /bin/sh, and an entrypoint ` +
      'that inspects its first argument (official redis and postgres images do, to drop root) now sees "/bin/sh"',
  );
  return `exec ${words.map(toShellWord).join(' ')}`;
}

const names = (vars: readonly { name: string }[]): string => [...new Set(vars.map((v) => v.name))].join(', ');

function translatePorts(raw: Json | undefined, ctx: ServiceContext): string[] {
  const out: string[] = [];
  for (const item of listOf(raw, 'ports', ctx)) {
    let text: string | undefined;
    if (isObj(item)) {
      const target = scalar(item.target);
      const published = scalar(item.published);
      if (target === undefined || published === undefined) {
        ctx.warn('ports', `${JSON.stringify(item)}: a port without a published host port is not translated (the agent publishes fixed ports only)`);
        continue;
      }
      const ip = scalar(item.host_ip);
      const proto = scalar(item.protocol);
      warnUnknownKeys(item, ['target', 'published', 'host_ip', 'protocol'], (k) => ctx.warn(`ports.${k}`, `option of port ${target} not translated`));
      text = `${ip ? `${ip}:` : ''}${published}:${target}${proto && proto !== 'tcp' ? `/${proto}` : ''}`;
    } else {
      const s = scalar(item);
      text = s === undefined ? undefined : plain(s, 'ports', ctx);
    }
    const mapping = text === undefined ? undefined : parsePort(text);
    if (text === undefined || !mapping) {
      ctx.warn('ports', `"${text ?? JSON.stringify(item)}" is not translated: the agent takes [IP:]HOST:CONTAINER[/tcp|udp], without ranges or random host ports`);
      continue;
    }
    out.push(text);
    const database = DATABASE_PORTS[mapping.containerPort];
    if (database && (mapping.hostIp === '0.0.0.0' || mapping.hostIp === '::')) {
      ctx.warn(
        'ports',
        `"${text}" publishes ${database} on every interface of the host, where anyone who reaches it can try to log in. ` +
          `Services on the same network reach it by name without it; drop the port or bind it to 127.0.0.1 (127.0.0.1:${mapping.hostPort}:${mapping.containerPort})`,
      );
    }
  }
  return out;
}

/** compose's `expose`: container ports, TCP only in the agent; no ranges. */
function translateExpose(raw: Json | undefined, ctx: ServiceContext): number[] {
  const out: number[] = [];
  for (const item of listOf(raw, 'expose', ctx)) {
    const text = scalar(item) ?? JSON.stringify(item);
    const m = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(text);
    const port = m ? Number(m[1]) : 0;
    if (!m || port < 1 || port > 65535) ctx.warn('expose', `"${text}" is not translated: the agent exposes single TCP ports (no ranges)`);
    else if (m[2] === 'udp') ctx.warn('expose', `"${text}" is not translated: the agent exposes TCP ports only`);
    else if (!out.includes(port)) out.push(port);
  }
  return out;
}

/**
 * A `*_FILE` variable (the convention of official images for secrets) that points at a path under
 * /run/secrets which nothing mounts would make the application fail at start; say so now.
 */
function warnUnmountedSecretPaths(env: Record<string, EnvValue>, volumes: readonly string[], ctx: ServiceContext): void {
  const targets = volumes.map((v) => parseVolumeMount(v)?.target).filter((t): t is string => t !== undefined);
  for (const [name, value] of Object.entries(env)) {
    if (typeof value !== 'string' || !value.startsWith('/run/secrets/')) continue;
    if (!targets.some((t) => value === t || value.startsWith(`${t}/`))) {
      ctx.warn(`environment.${name}`, `points at ${value}, which nothing mounts in the container: give the service that secret (secrets:)`);
    }
  }
}

function translateVolumes(raw: Json | undefined, ctx: ServiceContext): string[] {
  const out: string[] = [];
  for (const item of listOf(raw, 'volumes', ctx)) {
    let source: string | undefined;
    let target: string | undefined;
    let readOnly = false;
    if (isObj(item)) {
      const type = scalar(item.type) ?? 'volume';
      if (type !== 'volume' && type !== 'bind') {
        ctx.warn('volumes', `a ${type} mount is not translated`);
        continue;
      }
      source = scalar(item.source);
      target = scalar(item.target);
      readOnly = item.read_only === true;
      for (const k of Object.keys(item)) if (!['type', 'source', 'target', 'read_only'].includes(k)) ctx.warn(`volumes.${k}`, `mount option of ${target ?? '?'} not translated`);
    } else if (typeof item === 'string') {
      const parts = plain(item, 'volumes', ctx).split(':');
      if (parts.length === 1) {
        ctx.warn('volumes', `anonymous volume "${item}" is not translated: declare a named volume for data worth keeping`);
        continue;
      }
      [source, target] = parts as [string, string];
      const modes = (parts[2] ?? '').split(',').filter(Boolean);
      readOnly = modes.includes('ro');
      const dropped = modes.filter((m) => m !== 'ro' && m !== 'rw');
      if (dropped.length > 0) ctx.warn('volumes', `"${item}": mount options ${dropped.join(',')} are not translated`);
    }
    if (!source || !target) {
      ctx.warn('volumes', `${JSON.stringify(item)} is not translated`);
      continue;
    }
    if (source.startsWith('~')) {
      ctx.warn('volumes', `"${source}" depends on the user's home directory; write an absolute path`);
      continue;
    }
    const bind = source.startsWith('/') || source.startsWith('.');
    if (!bind) {
      ctx.usedVolumes.add(source);
      source = ctx.volumes.get(source);
    } else {
      source = ctx.hostPath(source, 'volumes');
    }
    const text = `${source}:${target}${readOnly ? ':ro' : ''}`;
    if (!parseVolumeMount(text)) {
      ctx.warn('volumes', `"${text}" is not translated: expected VOLUME:/path or ./host/path:/path`);
      continue;
    }
    out.push(text);
  }
  return out;
}

function translateNetworks(raw: Json | undefined, ctx: ServiceContext): Json[] {
  // Compose attaches a service without networks to the project's "default" network.
  if (raw === undefined || raw === null) {
    ctx.usedNetworks.add('default');
    return [ctx.networks.get('default')];
  }
  const out: Json[] = [];
  if (Array.isArray(raw)) {
    for (const n of raw) {
      const name = scalar(n);
      if (name === undefined) continue;
      ctx.usedNetworks.add(name);
      out.push(ctx.networks.get(name));
    }
  } else if (isObj(raw)) {
    for (const [name, options] of Object.entries(raw)) {
      ctx.usedNetworks.add(name);
      const aliases = isObj(options) && Array.isArray(options.aliases) ? options.aliases.map(scalar).filter((a): a is string => a !== undefined) : [];
      if (isObj(options)) {
        for (const k of Object.keys(options)) if (k !== 'aliases') ctx.warn(`networks.${name}.${k}`, 'not translated');
      }
      out.push(aliases.length > 0 ? { name: ctx.networks.get(name), aliases } : ctx.networks.get(name));
    }
  }
  return out;
}

function translateDependsOn(raw: Json | undefined, ctx: ServiceContext): Json[] {
  if (raw === undefined || raw === null) return [];
  const entries: [string, Json][] = Array.isArray(raw)
    ? raw.map(scalar).filter((s): s is string => s !== undefined).map((s) => [s, null])
    : isObj(raw)
      ? Object.entries(raw)
      : [];
  const out: Json[] = [];
  for (const [service, options] of entries) {
    const profiles = ctx.skipped.get(service);
    if (profiles) {
      ctx.warn(`depends_on.${service}`, `"${service}" is in profile ${profiles.join(', ')}, which was not selected, so it is not imported and the dependency is dropped (import with --profile ${profiles[0] ?? ''} to keep it)`);
      continue;
    }
    const condition = isObj(options) ? scalar(options.condition) : undefined;
    if (isObj(options)) warnUnknownKeys(options, ['condition'], (k) => ctx.warn(`depends_on.${service}.${k}`, 'not translated'));
    const target = ctx.services.get(service);
    if (condition === 'service_healthy') out.push({ service: target, condition: 'healthy' });
    else {
      if (condition === 'service_completed_successfully') {
        ctx.warn(`depends_on.${service}`, 'service_completed_successfully has no equivalent; translated as started');
      }
      out.push(target);
    }
  }
  return out;
}

function translateHealthcheck(raw: Json, ctx: ServiceContext, shellVariables: VariableSegment[]): Obj | undefined {
  if (!isObj(raw)) return undefined;
  if (raw.disable === true) {
    ctx.warn('healthcheck', "disable: true turns off the image's own HEALTHCHECK; not translated");
    return undefined;
  }
  const test = raw.test;
  let command: Json | undefined;
  const first = Array.isArray(test) ? scalar(test[0]) : undefined;
  if (typeof test === 'string') command = test;
  else if (Array.isArray(test) && first === 'CMD-SHELL') command = scalar(test[1]);
  else if (Array.isArray(test) && first === 'CMD') command = test.slice(1).map((w) => scalar(w) ?? '');
  else if (Array.isArray(test) && first === 'NONE') {
    ctx.warn('healthcheck', "test NONE turns off the image's own HEALTHCHECK; not translated");
    return undefined;
  }
  if (command === undefined) {
    ctx.warn('healthcheck', 'no test the agent can run; not translated (the agent does not read the image HEALTHCHECK)');
    return undefined;
  }
  // A string runs through /bin/sh in both compose and the agent, so variables expand there.
  if (typeof command === 'string') {
    shellVariables.push(...variablesIn(command));
    command = literalText(command);
  } else if (Array.isArray(command) && command.some((w) => typeof w === 'string' && variablesIn(w).length > 0)) {
    const words = command.map((w) => String(w));
    shellVariables.push(...words.flatMap(variablesIn));
    command = `exec ${words.map(toShellWord).join(' ')}`;
  } else if (Array.isArray(command)) {
    command = command.map((w) => literalText(String(w)));
  }
  const hc: Obj = { command };
  for (const [from, to] of [['interval', 'interval'], ['timeout', 'timeout'], ['start_period', 'startPeriod']] as const) {
    const d = scalar(raw[from]);
    if (d === undefined) continue;
    if (parseDuration(d) !== undefined) hc[to] = d;
    else ctx.warn(`healthcheck.${from}`, `"${d}" is not a duration the agent reads (e.g. 10s); the default applies`);
  }
  if (typeof raw.retries === 'number') hc.retries = raw.retries;
  for (const k of Object.keys(raw)) {
    if (!['test', 'interval', 'timeout', 'start_period', 'retries', 'disable'].includes(k)) ctx.warn(`healthcheck.${k}`, 'not translated');
  }
  return hc;
}

/** Compose's default is "no": a service without `restart` is not restarted, so Never is written out (with a warning: nothing heals it). */
function translateRestart(raw: Obj, ctx: ServiceContext): string {
  const restart = scalar(raw.restart);
  if (restart !== undefined) {
    if (restart === 'always' || restart === 'unless-stopped') return 'Always';
    if (restart === 'no') return 'Never';
    if (restart.startsWith('on-failure')) {
      if (restart.includes(':')) ctx.warn('restart', `the retry limit of "${restart}" is not translated; the agent backs off instead`);
      return 'OnFailure';
    }
    ctx.warn('restart', `"${restart}" is not a restart policy; using Never`);
    return 'Never';
  }
  const policy = isObj(raw.deploy) && isObj(raw.deploy.restart_policy) ? raw.deploy.restart_policy : undefined;
  // deploy.restart_policy's own default condition is "any".
  const condition = policy ? (scalar(policy.condition) ?? 'any') : undefined;
  if (condition === 'any') return 'Always';
  if (condition === 'on-failure') return 'OnFailure';
  if (condition === undefined) {
    ctx.warn(
      'restart',
      'not set, and compose\'s default is "no": restartPolicy is Never, so the agent will not restart it when it exits or crashes. ' +
        'For a long-running service write restart: unless-stopped (restartPolicy: Always)',
    );
  }
  return 'Never';
}

function translateResources(raw: Obj, ctx: ServiceContext): Obj {
  const out: Obj = {};
  const deploy = isObj(raw.deploy) ? raw.deploy : {};
  const limits = isObj(deploy.resources) && isObj(deploy.resources.limits) ? deploy.resources.limits : {};
  const memory = scalar(limits.memory) ?? scalar(raw.mem_limit);
  if (memory !== undefined) {
    const size = composeSize(memory);
    if (size !== undefined) out.memory = size;
    else ctx.warn('deploy.resources.limits.memory', `"${memory}" is not a size; not translated`);
  }
  const cpus = scalar(limits.cpus) ?? scalar(raw.cpus);
  if (cpus !== undefined) {
    const n = Number(cpus);
    if (Number.isFinite(n) && n > 0) out.cpus = n;
    else ctx.warn('deploy.resources.limits.cpus', `"${cpus}" is not a number of CPUs; not translated`);
  }
  for (const k of Object.keys(deploy)) {
    if (k === 'restart_policy' && raw.restart === undefined) continue;
    if (k !== 'resources') ctx.warn(`deploy.${k}`, 'not translated');
  }
  if (isObj(deploy.resources)) {
    for (const k of Object.keys(deploy.resources)) if (k !== 'limits') ctx.warn(`deploy.resources.${k}`, 'not translated');
    for (const k of Object.keys(limits)) if (k !== 'memory' && k !== 'cpus') ctx.warn(`deploy.resources.limits.${k}`, 'not translated');
  }
  return out;
}

/**
 * Docker's sizes are binary ("512m" is 512 MiB); written with an explicit binary unit ("512Mi") they
 * keep their meaning whatever a reader assumes "m" means.
 */
export function composeSize(text: string): string | number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg])?b?$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase();
  if (unit === 'b') return Number(m[1]);
  const out = `${m[1]}${unit.toUpperCase()}i`;
  return parseByteSize(out) === undefined ? undefined : out;
}

function translateLabels(raw: Json | undefined, ctx: ServiceContext): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(keyValues(raw, 'labels', ctx))) out[k] = v === undefined ? '' : plain(v, `labels.${k}`, ctx);
  return out;
}

function translateLogging(raw: Json | undefined, ctx: ServiceContext): Obj | undefined {
  if (!isObj(raw)) return undefined;
  const driver = scalar(raw.driver);
  if (driver !== undefined && driver !== 'json-file') {
    ctx.warn('logging.driver', `"${driver}" is not translated: the agent uses json-file with rotation`);
    return undefined;
  }
  const options = isObj(raw.options) ? raw.options : {};
  const out: Obj = {};
  const maxSize = scalar(options['max-size']);
  if (maxSize !== undefined) {
    const m = /^(\d+)\s*([kmg])b?$/i.exec(maxSize.trim());
    if (m) out.maxSize = `${m[1]}${(m[2] as string).toLowerCase()}`;
    else ctx.warn('logging.options.max-size', `"${maxSize}" is not translated (expected e.g. 10m)`);
  }
  const maxFile = scalar(options['max-file']);
  if (maxFile !== undefined) {
    const n = Number(maxFile);
    if (Number.isInteger(n) && n >= 1) out.maxFile = n;
    else ctx.warn('logging.options.max-file', `"${maxFile}" is not translated`);
  }
  for (const k of Object.keys(options)) if (k !== 'max-size' && k !== 'max-file') ctx.warn(`logging.options.${k}`, 'not translated');
  return Object.keys(out).length > 0 ? out : undefined;
}

const SPEC_ORDER = [
  'image', 'build', 'pullPolicy', 'command', 'entrypoint', 'workingDir', 'user', 'env', 'ports', 'expose', 'volumes', 'networks',
  'dependsOn', 'healthcheck', 'restartPolicy', 'init', 'stopSignal', 'stopGracePeriod', 'resources', 'labels', 'logging',
];

function orderSpec(spec: Obj): Obj {
  const out: Obj = {};
  for (const key of SPEC_ORDER) if (spec[key] !== undefined) out[key] = spec[key];
  return out;
}
