import { realpath, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { DesiredState } from './desired-state.js';
import { isKindName, kindNames, kinds } from './kinds/index.js';
import { manifestMetadata } from './kinds/common.js';
import type { Resource } from './resource.js';
import type { StackOutputsResult } from '../aws/stack-outputs.js';
import { cfnStandIns, hasCfnRefs, resolveCfnRefs } from './cfn-refs.js';
import type { IssuedCertificates } from './checks/check-context.js';
import { crossDocumentChecks, destinationChecks, hostPolicyChecks } from './checks/index.js';
import { DEFAULT_HOST_RULES, type HostRules } from './host-policy.js';
import { listManifestFiles, ManifestReader } from './manifest-files.js';
import type { SecretSource } from './secrets.js';
import { errorAt, type FieldPath, type ManifestError, SourceRef } from './source.js';

export const API_VERSION = 'certitrack.io/v1';
export { MAX_FILE_BYTES, MAX_TOTAL_BYTES } from './manifest-files.js';
/** YAML aliases expand; a small cap defuses "billion laughs" documents. */
const MAX_ALIAS_COUNT = 100;

const envelope = z.strictObject({
  apiVersion: z.literal(API_VERSION, { message: `expected apiVersion ${API_VERSION}` }),
  kind: z.string().refine(isKindName, { message: `expected one of ${kindNames.join(', ')}` }),
  metadata: manifestMetadata,
  spec: z.unknown().optional(),
});

/** `warnings` are allowed risks (a secret too short to scrub safely); with `strict` they are errors instead. */
export type LoadResult =
  | { ok: true; state: DesiredState; files: string[]; warnings: ManifestError[] }
  | { ok: false; errors: ManifestError[]; files: string[]; warnings: ManifestError[] };

export interface LoadOptions {
  secrets: SecretSource;
  /** How files are named in messages; defaults to paths relative to the working directory. */
  displayBase?: string;
  now?: () => Date;
  /** What /status shows as the source (a folder, or git:<commit>); defaults to the folder. */
  origin?: string;
  /** The bootstrap stack's outputs, for `${cfn:Name}` references; asked once per load, only if used. */
  cfnOutputs?: () => Promise<StackOutputsResult>;
  /** The host policy and the agent's protected paths; the built-in default policy when omitted. */
  rules?: HostRules;
  /** What the agent issued (from its state), for the keyFile overwrite rule; unknown when omitted. */
  issued?: IssuedCertificates;
  /** Warnings are errors (--strict). */
  strict?: boolean;
  /** Check the manifests alone (see CheckContext.offline): for `validate --offline` and `export`. */
  offline?: boolean;
  /**
   * `${cfn:Name}` references the outputs cannot resolve are taken on trust instead of being errors
   * (`validate --offline` in CI, where no stack is at hand); malformed references are still errors.
   */
  trustCfnRefs?: boolean;
  /**
   * Where the validated resources will find the folder's files: each `source.dir` (and so every
   * relative path in a manifest) is moved from under `dir` to the same place under this folder.
   * The files are read and checked in `dir`; git mode loads an immutable checkout this way while
   * the resources point into the stable workspace the checkout is then synced into.
   */
  addressAs?: string;
}

/**
 * Loads every *.yaml / *.yml file under `dir` as one transaction: either every document parses,
 * validates and passes the cross-document checks, or the result lists every problem found and no
 * state at all. A missing folder is an error; an empty one is a valid, empty state (the engine
 * decides whether it may act on it).
 */
export async function loadManifests(dir: string, opts: LoadOptions): Promise<LoadResult> {
  const display = (file: string): string => relative(opts.displayBase ?? process.cwd(), file) || file;
  const errors: ManifestError[] = [];
  const warnings: ManifestError[] = (opts.secrets.warnings ?? []).map((w) => ({ file: w.file, line: 1, col: 1, path: '', message: w.message }));
  let root: string;
  let listed: Awaited<ReturnType<typeof listManifestFiles>>;
  try {
    root = await realpath(dir);
    const st = await stat(root);
    if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    listed = await listManifestFiles(root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const message = code === 'ENOENT' ? 'manifests folder does not exist' : `cannot read manifests folder (${code})`;
    return { ok: false, files: [], errors: [{ file: display(dir), line: 1, col: 1, path: '', message }], warnings };
  }
  // Messages name files as they sit under the folder given, not under its real path.
  const shown = (file: string): string => display(dir === root ? file : file.replace(root, dir));
  const files = listed.map((f) => f.path);

  let outputs: Promise<StackOutputsResult> | undefined;
  const cfn = (): Promise<StackOutputsResult> =>
    (outputs ??= opts.cfnOutputs ? opts.cfnOutputs() : Promise.resolve({ ok: false, reason: 'no CloudFormation stack configured' }));
  const reader = new ManifestReader();
  const resources: Resource[] = [];
  for (const file of listed) {
    if ('refused' in file) {
      errors.push({ file: shown(file.path), line: 1, col: 1, path: '', message: file.refused });
      continue;
    }
    const read = await reader.read(file);
    if (!read.ok) errors.push({ file: shown(file.path), line: 1, col: 1, path: '', message: read.message });
    else resources.push(...(await parseFile(read.data, file.path, shown(file.path), errors, cfn, opts.trustCfnRefs === true)));
  }

  const seen = new Map<string, Resource>();
  const unique: Resource[] = [];
  for (const r of resources) {
    const key = `${r.kind}/${r.name}`;
    const first = seen.get(key);
    if (first) {
      errors.push(
        errorAt(r.source, ['metadata', 'name'], `duplicate ${r.kind} "${r.name}" (first declared at ${first.source.file}:${first.source.positionOf(['metadata', 'name']).line})`),
      );
    } else {
      seen.set(key, r);
      unique.push(r);
    }
  }

  const loadedAt = (opts.now ?? (() => new Date()))();
  const state = new DesiredState(unique, loadedAt, opts.origin ?? dir);
  const ctx = {
    state,
    secrets: opts.secrets,
    root,
    rules: opts.rules ?? DEFAULT_HOST_RULES,
    issued: opts.issued,
    offline: opts.offline === true,
    report: (resource: Resource, path: FieldPath, message: string, atKey?: boolean) => errors.push(errorAt(resource.source, path, message, atKey)),
    warn: (resource: Resource, path: FieldPath, message: string) => warnings.push(errorAt(resource.source, path, message)),
  };
  for (const check of [...Object.values(crossDocumentChecks), ...hostPolicyChecks]) check(ctx);

  // Checked where the files are; applied (and so written to) where LoadOptions.addressAs says.
  let addressed = state;
  if (opts.addressAs !== undefined) {
    const stable = opts.addressAs;
    const moved = unique.map((r) => ({ ...r, source: r.source.addressedAt(join(stable, relative(root, r.source.dir))) }));
    addressed = new DesiredState(moved, loadedAt, state.origin);
    for (const check of destinationChecks) check({ ...ctx, state: addressed, root: stable });
  }

  if (opts.strict && warnings.length > 0) errors.push(...warnings.map((w) => ({ ...w, message: `${w.message} (an error with --strict)` })));
  const names = files.map(shown);
  if (errors.length > 0) return { ok: false, errors: sortErrors(errors), files: names, warnings: opts.strict ? [] : warnings };
  return { ok: true, state: addressed, files: names, warnings };
}

async function parseFile(buf: Buffer, file: string, shown: string, errors: ManifestError[], cfn: () => Promise<StackOutputsResult>, trustCfnRefs: boolean): Promise<Resource[]> {
  const fileError = (message: string, line = 1, col = 1): void => {
    errors.push({ file: shown, line, col, path: '', message });
  };
  if (buf.includes(0)) {
    fileError('file is binary (contains NUL bytes), not YAML');
    return [];
  }
  const text = buf.toString('utf8');
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, strict: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const out: Resource[] = [];
  for (const doc of list) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = lines.linePos(e.pos[0]);
        fileError(`YAML syntax error: ${e.message.split('\n')[0] ?? e.code}`, pos.line, pos.col);
      }
      continue;
    }
    let raw: unknown;
    try {
      raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      const pos = lines.linePos(doc.range[0]);
      fileError(`YAML error: ${(err as Error).message}`, pos.line, pos.col);
      continue;
    }
    if (raw === null || raw === undefined) continue; // an empty document between separators
    const source = new SourceRef(shown, dirname(file), doc, lines);
    let candidates: unknown[] = [raw];
    if (hasCfnRefs(raw)) {
      const res = await cfn();
      const resolved = res.ok ? resolveCfnRefs(raw, res.outputs) : resolveCfnRefs(raw, undefined, res.reason);
      // Offline, a reference nobody gave outputs for is taken on trust: the field is checked with
      // the reference as written, then with a stand-in of a name's shape (an S3 bucket).
      const trusted = trustCfnRefs && !res.ok;
      const problems = trusted ? resolved.problems.filter((p) => p.code !== 'unavailable') : resolved.problems;
      if (problems.length > 0) {
        for (const p of problems) errors.push(errorAt(source, p.path, p.message));
        continue;
      }
      candidates = trusted ? [raw, resolveCfnRefs(raw, cfnStandIns(raw)).value] : [resolved.value];
    }
    const parsed = candidates.map(parseResource);
    const ok = parsed.find((p) => p.ok);
    if (ok?.ok) out.push({ ...ok.resource, source });
    else {
      const first = parsed[0];
      if (first && !first.ok) pushZodIssues(errors, source, first.prefix, first.error, first.validated);
    }
  }
  return out;
}

type ParsedResource =
  | { ok: true; resource: Omit<Resource, 'source'> }
  | { ok: false; prefix: FieldPath; error: z.ZodError; validated: unknown };

/** The envelope, then the kind's spec: the resource with every default applied, or why not. */
function parseResource(raw: unknown): ParsedResource {
  const env = envelope.safeParse(raw);
  if (!env.success) return { ok: false, prefix: [], error: env.error, validated: raw };
  const kind = env.data.kind as keyof typeof kinds;
  const spec = kinds[kind].spec.safeParse(env.data.spec ?? {});
  if (!spec.success) return { ok: false, prefix: ['spec'], error: spec.error, validated: env.data.spec ?? {} };
  return { ok: true, resource: { kind, name: env.data.metadata.name, labels: env.data.metadata.labels, spec: spec.data } };
}

function pushZodIssues(errors: ManifestError[], source: SourceRef, prefix: FieldPath, error: z.ZodError, validated: unknown): void {
  for (const issue of flattenIssues(error.issues)) {
    const rel = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const path = [...prefix, ...rel];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) errors.push(errorAt(source, [...path, key], `unknown field "${key}"`, true));
    } else {
      errors.push(errorAt(source, path, describeIssue(issue, valueAt(validated, rel)), issue.message.startsWith(KEY_PROBLEM)));
    }
  }
}

/** The value at `path` in what was validated (zod 4 does not keep the input on its issues). */
function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`.slice(0, 60);
}

/** Marks a problem with a mapping key (not its value), so the error points at the key. */
const KEY_PROBLEM = 'key: ';

/** A union's failure is most useful as the issues of the branch that got furthest. */
function flattenIssues(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const out: z.core.$ZodIssue[] = [];
  for (const issue of issues) {
    if (issue.code === 'invalid_key' && issue.issues.length > 0) {
      // "Invalid key in record" says nothing; the key's own problem does (e.g. not an env var name).
      out.push(...issue.issues.map((i) => ({ ...i, path: [...issue.path, ...i.path], message: `${KEY_PROBLEM}${i.message}` })));
      continue;
    }
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const branches = issue.errors.map((branch) => branch.map((i) => ({ ...i, path: [...issue.path, ...i.path] })));
      const depth = (b: z.core.$ZodIssue[]): number => Math.max(...b.map((i) => i.path.length + (i.code === 'invalid_type' ? 0 : 0.5)));
      const best = branches.reduce((a, b) => (depth(b) > depth(a) ? b : a));
      if (depth(best) > issue.path.length) {
        out.push(...flattenIssues(best));
        continue;
      }
    }
    out.push(issue);
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === 'invalid_type') {
    return value === undefined ? `required field missing (expected ${issue.expected})` : `expected ${issue.expected}, got ${kindOf(value)}`;
  }
  return issue.message;
}

export function sortErrors(errors: ManifestError[]): ManifestError[] {
  return errors.sort((a, b) => (a.file === b.file ? a.line - b.line || a.col - b.col : a.file < b.file ? -1 : 1));
}
