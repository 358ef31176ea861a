import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { readBoundedFileSync } from '../util/bounded-read.js';
import { forbiddenSecretEnv } from './secrets.js';
import { realPathOf } from './host-paths.js';

/** Where the administrator widens what manifests may touch; never inside the manifests repository. */
export const DEFAULT_POLICY_FILE = '/etc/certitrack/policy.yaml';

/**
 * Host paths no bind mount may be, be inside, or contain: each is root on the host or the agent's
 * own secrets. `/` is contained in this rule (it contains everything).
 */
export const ALWAYS_PROTECTED = ['/etc', '/root', '/proc', '/sys', '/dev', '/boot', '/var/lib/docker', '/run/docker.sock', '/var/run/docker.sock'] as const;

const absolutePath = z.string().refine((p) => isAbsolute(p), { message: 'expected an absolute path' });
const endpoint = z.url({ protocol: /^https?$/ }).transform((u) => new URL(u).origin);

const policyFile = z.strictObject({
  /** Folders (besides the manifests folder) that manifests may read and write: env files, certificates, backups. */
  allowedRoots: z.array(absolutePath).default([]),
  /** Bind-mount sources allowed although protected, e.g. the Docker socket for a trusted tool. */
  allowedMountSources: z.array(absolutePath).default([]),
  /** Plain-http S3 endpoints allowed besides loopback, as origins (http://minio.lan:9000). */
  allowedEndpoints: z.array(endpoint).default([]),
  /** Environment variables of the agent that secretRef may read. */
  secretEnv: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name'))
    .default([])
    .superRefine((names, ctx) => {
      names.forEach((n, i) => {
        const why = forbiddenSecretEnv(n);
        if (why) ctx.addIssue({ code: 'custom', path: [i], message: why });
      });
    }),
});

/** The administrator's host policy, with every path already resolved to its real path. */
export interface HostPolicy {
  /** The file it came from, for messages; "the built-in default policy" when none. */
  readonly source: string;
  readonly allowedRoots: readonly string[];
  readonly allowedMountSources: readonly string[];
  readonly allowedEndpoints: readonly string[];
  readonly secretEnv: readonly string[];
}

/** What the checks compare manifests against: the policy plus the paths that are the agent's own. */
export interface HostRules {
  readonly policy: HostPolicy;
  /** Real paths of what a bind mount may never reach (ALWAYS_PROTECTED plus the agent's state, secrets, policy, Docker socket). */
  readonly protectedPaths: readonly string[];
}

export const DEFAULT_POLICY: HostPolicy = { source: 'the built-in default policy', allowedRoots: [], allowedMountSources: [], allowedEndpoints: [], secretEnv: [] };

export interface PolicyLocation {
  /** The file, or undefined for the default location. */
  file: string | undefined;
  /** The manifests folder: a policy inside it would let the manifests widen their own rights. */
  manifestsDir?: string;
}

/**
 * Reads the host policy. The default file may be absent (then the built-in policy applies); a file
 * named explicitly must exist. Errors name the file, line and field.
 */
export function loadHostPolicy(loc: PolicyLocation): HostPolicy {
  const file = loc.file ?? DEFAULT_POLICY_FILE;
  let real: string;
  try {
    real = realpathSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && loc.file === undefined) return DEFAULT_POLICY;
    throw new Error(code === 'ENOENT' ? `policy file ${file} does not exist` : `cannot read policy file ${file} (${code ?? 'error'})`);
  }
  if (loc.manifestsDir) {
    const rel = relative(realPathOf(loc.manifestsDir), real);
    if (!rel.startsWith('..') && !isAbsolute(rel)) throw new Error(`policy file ${file} is inside the manifests folder; it must live on the host (default ${DEFAULT_POLICY_FILE})`);
  }
  if ((statSync(real).mode & 0o022) !== 0) throw new Error(`policy file ${file} is writable by group or others; chmod 644 (or 600) it`);
  const read = readBoundedFileSync(real, 1024 * 1024);
  if (!read.ok) throw new Error(`policy file ${file} ${read.detail}`);
  const lines = new LineCounter();
  const doc = parseDocument(read.data.toString('utf8'), { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number): string => {
    const p = lines.linePos(offset);
    return `${file}:${p.line}:${p.col}`;
  };
  if (doc.errors.length > 0) throw new Error(`${at(doc.errors[0]?.pos[0] ?? 0)}: YAML syntax error: ${doc.errors[0]?.message.split('\n')[0] ?? ''}`);
  const parsed = policyFile.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    throw new Error(`${at(node?.range?.[0] ?? 0)}: ${path.join('.') || '(top level)'}: ${issue.message}`);
  }
  const p = parsed.data;
  return {
    source: file,
    allowedRoots: p.allowedRoots.map(realPathOf),
    allowedMountSources: p.allowedMountSources.map(realPathOf),
    allowedEndpoints: p.allowedEndpoints,
    secretEnv: p.secretEnv,
  };
}

/** The rules for one agent: its policy, and its own state dir, secrets file, policy file and Docker socket as protected paths. */
export function hostRules(policy: HostPolicy, own: { stateDir?: string; secretsFile?: string; dockerSocket?: string } = {}): HostRules {
  const mine = [own.stateDir ?? '/var/lib/certitrack-agent', own.secretsFile, own.dockerSocket, policy.source === DEFAULT_POLICY.source ? DEFAULT_POLICY_FILE : policy.source];
  const paths = [...ALWAYS_PROTECTED, ...mine.filter((p): p is string => p !== undefined).map((p) => resolve(p))];
  return { policy, protectedPaths: [...new Set(paths.flatMap((p) => [p, realPathOf(p)]))] };
}

export const DEFAULT_HOST_RULES: HostRules = hostRules(DEFAULT_POLICY);
