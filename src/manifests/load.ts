import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { DesiredState } from './desired-state.js';
import { isKindName, kindNames, kinds } from './kinds/index.js';
import { resourceName, stringMap } from './kinds/common.js';
import type { Resource } from './resource.js';
import type { StackOutputsResult } from '../aws/stack-outputs.js';
import { hasCfnRefs, resolveCfnRefs } from './cfn-refs.js';
import { crossDocumentChecks } from './checks/index.js';
import type { SecretSource } from './secrets.js';
import { errorAt, type FieldPath, type ManifestError, SourceRef } from './source.js';

export const API_VERSION = 'certitrack.io/v1';
/** A manifest larger than this is a mistake (or an attack), not configuration. */
export const MAX_FILE_BYTES = 1024 * 1024;
/** YAML aliases expand; a small cap defuses "billion laughs" documents. */
const MAX_ALIAS_COUNT = 100;

const envelope = z.strictObject({
  apiVersion: z.literal(API_VERSION, { message: `expected apiVersion ${API_VERSION}` }),
  kind: z.string().refine(isKindName, { message: `expected one of ${kindNames.join(', ')}` }),
  metadata: z.strictObject({ name: resourceName, labels: stringMap.default({}) }),
  spec: z.unknown().optional(),
});

export type LoadResult = { ok: true; state: DesiredState; files: string[] } | { ok: false; errors: ManifestError[]; files: string[] };

export interface LoadOptions {
  secrets: SecretSource;
  /** How files are named in messages; defaults to paths relative to the working directory. */
  displayBase?: string;
  now?: () => Date;
  /** What /status shows as the source (a folder, or git:<commit>); defaults to the folder. */
  origin?: string;
  /** The bootstrap stack's outputs, for `${cfn:Name}` references; asked once per load, only if used. */
  cfnOutputs?: () => Promise<StackOutputsResult>;
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
  let files: string[];
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    files = await listManifestFiles(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const message = code === 'ENOENT' ? 'manifests folder does not exist' : `cannot read manifests folder (${code})`;
    return { ok: false, files: [], errors: [{ file: display(dir), line: 1, col: 1, path: '', message }] };
  }

  let outputs: Promise<StackOutputsResult> | undefined;
  const cfn = (): Promise<StackOutputsResult> =>
    (outputs ??= opts.cfnOutputs ? opts.cfnOutputs() : Promise.resolve({ ok: false, reason: 'no CloudFormation stack configured' }));
  const resources: Resource[] = [];
  for (const file of files) {
    resources.push(...(await loadFile(file, display(file), errors, cfn)));
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
  for (const check of Object.values(crossDocumentChecks)) {
    check({
      state,
      secrets: opts.secrets,
      root: resolve(dir),
      report: (resource, path, message, atKey) => errors.push(errorAt(resource.source, path, message, atKey)),
    });
  }

  if (errors.length > 0) return { ok: false, errors: sortErrors(errors), files: files.map(display) };
  if (opts.addressAs === undefined) return { ok: true, state, files: files.map(display) };
  const stable = opts.addressAs;
  const addressed = unique.map((r) => ({ ...r, source: r.source.addressedAt(join(stable, relative(resolve(dir), r.source.dir))) }));
  return { ok: true, state: new DesiredState(addressed, loadedAt, state.origin), files: files.map(display) };
}

async function listManifestFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      // Hidden entries are editor swap files, .git and the like: never manifests.
      if (e.name.startsWith('.')) continue;
      const full = join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else if ((e.isFile() || e.isSymbolicLink()) && /\.ya?ml$/.test(e.name)) out.push(full);
    }
  };
  await walk(dir);
  return out.sort();
}

async function loadFile(file: string, shown: string, errors: ManifestError[], cfn: () => Promise<StackOutputsResult>): Promise<Resource[]> {
  const fileError = (message: string, line = 1, col = 1): void => {
    errors.push({ file: shown, line, col, path: '', message });
  };
  let buf: Buffer;
  try {
    const st = await stat(file);
    if (st.size > MAX_FILE_BYTES) {
      fileError(`file is ${st.size} bytes; manifests are limited to ${MAX_FILE_BYTES} bytes`);
      return [];
    }
    buf = await readFile(file);
  } catch (err) {
    // Removed or renamed between listing and reading (a checkout in progress): the load is not a
    // consistent picture of the folder, so it fails; the watcher's next event loads it again.
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    fileError(code === 'ENOENT' ? 'file disappeared while the folder was being read' : `cannot read file (${code})`);
    return [];
  }
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
    if (hasCfnRefs(raw)) {
      const res = await cfn();
      const resolved = res.ok ? resolveCfnRefs(raw, res.outputs) : resolveCfnRefs(raw, undefined, res.reason);
      if (resolved.problems.length > 0) {
        for (const p of resolved.problems) errors.push(errorAt(source, p.path, p.message));
        continue;
      }
      raw = resolved.value;
    }
    const env = envelope.safeParse(raw);
    if (!env.success) {
      pushZodIssues(errors, source, [], env.error, raw);
      continue;
    }
    const kind = env.data.kind as keyof typeof kinds;
    const parsed = kinds[kind].spec.safeParse(env.data.spec ?? {});
    if (!parsed.success) {
      pushZodIssues(errors, source, ['spec'], parsed.error, env.data.spec ?? {});
      continue;
    }
    out.push({ kind, name: env.data.metadata.name, labels: env.data.metadata.labels, spec: parsed.data, source });
  }
  return out;
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

function sortErrors(errors: ManifestError[]): ManifestError[] {
  return errors.sort((a, b) => (a.file === b.file ? a.line - b.line || a.col - b.col : a.file < b.file ? -1 : 1));
}
