import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { Document, isScalar, isSeq, parseDocument, visit } from 'yaml';
import { API_VERSION } from '../manifests/load.js';
import { isObj, warnUnknownKeys, type Json, type ServiceContext } from './compose-context.js';
import { readFileSources } from './compose-file-sources.js';
import { selectByProfile } from './compose-profiles.js';
import { translateService } from './compose-service.js';
import { manifestHostPath } from './host-paths.js';
import { ResourceNames } from './resource-names.js';

export interface ImportComposeOptions {
  /** Folder of the compose file; its relative build contexts, bind mounts and env files start there. Default: the working directory. */
  composeDir?: string;
  /** Folder the manifests will be written to; relative paths are rewritten to start there. Default: composeDir. */
  outputDir?: string;
  /** Compose's project name, to say where compose kept volume data. Default: the file's `name`, else composeDir's name. */
  projectName?: string;
  /** The compose file's name, for the header of each manifest. */
  sourceName?: string;
  /** Profiles to import services of, as `docker compose --profile`; `*` selects all. */
  profiles?: readonly string[];
  /** Reads a file named relative to composeDir (env_file); undefined when it cannot be read. Default: the file system. */
  readFile?: (path: string) => string | undefined;
}

export interface ImportComposeResult {
  /** Relative file name → YAML text: one file per service, plus networks.yaml and volumes.yaml. */
  files: Map<string, string>;
  /** Everything not translated exactly, each naming the service (or section) and key. Empty means a faithful translation. */
  warnings: string[];
  /** Translated, but worth knowing: services left out by profile, defaults taken, values moved to secrets. */
  notes: string[];
  /** Every secretRef key the manifests use: what the secrets file must define. */
  secretKeys: string[];
}

const TOP_LEVEL = ['services', 'networks', 'volumes', 'secrets', 'configs', 'name', 'version'];

/**
 * Converts a docker-compose file into certitrack manifests (Service, Network and Volume) that
 * behave as `docker compose up` would, or says where they cannot. Values interpolated from the
 * host (`${VAR}`) and values that look secret become secret references, never inlined. The output
 * is meant to be read before it is applied: every approximation is in `warnings`, and a service's
 * own warnings and notes are repeated as comments at the top of its file.
 *
 * Throws only when the text is not a compose file at all (invalid YAML, no `services`).
 */
export function importCompose(composeYamlText: string, opts: ImportComposeOptions = {}): ImportComposeResult {
  const doc = parseDocument(composeYamlText, { merge: true, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) throw new Error(`not valid YAML: ${doc.errors.map((e) => e.message.split('\n')[0]).join('; ')}`);
  const root = doc.toJS({ maxAliasCount: 1000 }) as Json;
  if (!isObj(root) || !isObj(root.services)) throw new Error('not a compose file: no services mapping');

  const composeDir = resolve(opts.composeDir ?? '.');
  const outputDir = resolve(opts.outputDir ?? composeDir);
  const sourceName = opts.sourceName ?? 'docker-compose.yml';
  const projectName = normalizeProject(opts.projectName ?? (typeof root.name === 'string' ? root.name : basename(composeDir)));
  const readFile = opts.readFile ?? ((path: string) => readText(resolve(composeDir, path)));
  const warnings: string[] = [];
  const notes: string[] = [];

  if (root.version !== undefined) warnings.push('version: not translated (obsolete in compose, and manifests have no equivalent)');
  warnUnknownKeys(root, TOP_LEVEL, (key) => warnings.push(`${key}: top-level section not translated`));

  const { active, skipped, unknown } = selectByProfile(root.services, opts.profiles ?? []);
  for (const profile of unknown) warnings.push(`--profile ${profile}: no service is in this profile`);
  for (const [name, profiles] of skipped) {
    notes.push(`service "${name}": not imported: it is in profile ${profiles.join(', ')}, which docker compose up also leaves out (--profile ${profiles[0] ?? ''} imports it)`);
  }

  const renamed = (kind: string) => (original: string, name: string) => warnings.push(`${kind} "${original}" is named "${name}" in the manifests (names are lower-case letters, digits, "-" and "_")`);
  const services = new ResourceNames(renamed('service'));
  const networks = new ResourceNames(renamed('network'));
  const volumes = new ResourceNames(renamed('volume'));
  const declaredNetworks = isObj(root.networks) ? root.networks : {};
  const declaredVolumes = isObj(root.volumes) ? root.volumes : {};
  // Registered in file order first, so that every later reference maps to the same name.
  for (const name of active) services.get(name);
  for (const name of Object.keys(declaredNetworks)) networks.get(name);
  for (const name of Object.keys(declaredVolumes)) volumes.get(name);
  const fileSources = readFileSources(root, (w) => warnings.push(w));

  const files = new Map<string, string>();
  const usedNetworks = new Set<string>();
  const usedVolumes = new Set<string>();
  const header = [`Imported from ${sourceName} by certitrack-agent import-compose; review before applying.`];
  const secretKeys = new Set<string>();

  for (const original of active) {
    const raw = root.services[original];
    const name = services.get(original);
    const own: string[] = [];
    const ownNotes: string[] = [];
    const warn = (key: string, message: string): void => {
      own.push(`${key}: ${message}`);
      warnings.push(`service "${original}": ${key}: ${message}`);
    };
    const ctx: ServiceContext = {
      services,
      networks,
      volumes,
      fileSources,
      skipped,
      hostPath: (path, key) => {
        const host = manifestHostPath(path, composeDir, outputDir);
        if (host.outside) {
          warn(key, `${path} is outside the manifests folder, so it is written as this machine's path ${host.path}; move it into the manifests folder to keep the manifests portable`);
        }
        return host.path;
      },
      readFile,
      usedNetworks,
      usedVolumes,
      warn,
      note: (key, message) => {
        ownNotes.push(`${key}: ${message}`);
        notes.push(`service "${original}": ${key}: ${message}`);
      },
    };
    const spec = translateService(original, isObj(raw) ? raw : {}, ctx);
    for (const value of Object.values(isObj(spec.env) ? spec.env : {})) if (isObj(value) && typeof value.secretRef === 'string') secretKeys.add(value.secretRef);
    const file = ['networks', 'volumes'].includes(name) ? `${name}-service.yaml` : `${name}.yaml`;
    const comments = [
      ...(own.length > 0 ? ['', 'Not translated exactly:', ...own.map((w) => `- ${w}`)] : []),
      ...(ownNotes.length > 0 ? ['', 'Notes:', ...ownNotes.map((w) => `- ${w}`)] : []),
    ];
    files.set(file, toYaml([manifest('Service', name, spec)], [...header, ...comments]));
  }

  const networkDocs: Json[] = [];
  for (const original of unique([...Object.keys(declaredNetworks), ...usedNetworks])) {
    const raw = declaredNetworks[original];
    const config = isObj(raw) ? raw : {};
    if (!(original in declaredNetworks) && original !== 'default') warnings.push(`network "${original}" is used but not declared; declared it`);
    const spec: Json = { driver: 'bridge' };
    if (config.internal === true) spec.internal = true;
    if (config.driver !== undefined && config.driver !== 'bridge') warnings.push(`network "${original}": driver ${String(config.driver)} is not translated; using bridge`);
    if (config.external === true) warnings.push(`network "${original}": external is not translated; the agent creates and owns the network`);
    warnUnknownKeys(config, ['driver', 'internal', 'external'], (key) => warnings.push(`network "${original}": ${key}: not translated`));
    networkDocs.push(manifest('Network', networks.get(original), spec));
  }
  if (networkDocs.length > 0) files.set('networks.yaml', toYaml(networkDocs, header));

  const volumeDocs: Json[] = [];
  for (const original of unique([...Object.keys(declaredVolumes), ...usedVolumes])) {
    const raw = declaredVolumes[original];
    const config = isObj(raw) ? raw : {};
    if (!(original in declaredVolumes)) warnings.push(`volume "${original}" is used but not declared; declared it`);
    if (config.driver !== undefined && config.driver !== 'local') warnings.push(`volume "${original}": driver ${String(config.driver)} is not translated; using local`);
    warnUnknownKeys(config, ['driver', 'name', 'external'], (key) => warnings.push(`volume "${original}": ${key}: not translated`));
    const external = externalVolumeName(original, config);
    if (external !== undefined) {
      notes.push(`volume "${original}": external, so the agent mounts Docker volume "${external}" by that name and never creates or removes it`);
      volumeDocs.push(manifest('Volume', volumes.get(original), { external: true, name: external }));
      continue;
    }
    const composeName = typeof config.name === 'string' ? config.name : `${projectName}_${original}`;
    // The one warning that protects data: without it the database comes up empty and looks lost.
    warnings.push(
      `volume "${original}": compose kept its data in Docker volume "${composeName}"; the agent creates a volume of its own, ` +
        'so copy the data into it before switching over (docs/install.md, "Moving from docker compose")',
    );
    volumeDocs.push(manifest('Volume', volumes.get(original), { driver: 'local' }));
  }
  if (volumeDocs.length > 0) files.set('volumes.yaml', toYaml(volumeDocs, header));

  return { files, warnings, notes, secretKeys: [...secretKeys].sort() };
}

/** The real Docker name of an external volume: `name:`, the old `external: { name }`, else the key itself (compose does not prefix external volumes). */
function externalVolumeName(original: string, config: Record<string, Json>): string | undefined {
  if (config.external !== true && !isObj(config.external)) return undefined;
  if (isObj(config.external) && typeof config.external.name === 'string') return config.external.name;
  return typeof config.name === 'string' ? config.name : original;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function manifest(kind: string, name: string, spec: Json): Json {
  return { apiVersion: API_VERSION, kind, metadata: { name }, spec };
}

const unique = (names: string[]): string[] => [...new Set(names)];

/** Compose lower-cases project names and keeps only [a-z0-9_-]. */
const normalizeProject = (name: string): string => name.toLowerCase().replace(/[^a-z0-9_-]/g, '') || 'project';

/** One or more documents; short command lists and secret references in flow style, as people write them. */
function toYaml(docs: Json[], comment: string[]): string {
  return docs
    .map((value, i) => {
      const doc = new Document(value);
      if (i === 0) doc.commentBefore = comment.map((l) => (l ? ` ${l}` : '')).join('\n');
      visit(doc, {
        Map(_, node) {
          const [only] = node.items;
          if (node.items.length === 1 && isScalar(only?.key) && only.key.value === 'secretRef') node.flow = true;
        },
        Pair(_, pair) {
          if (isScalar(pair.key) && (pair.key.value === 'command' || pair.key.value === 'entrypoint' || pair.key.value === 'expose') && isSeq(pair.value)) pair.value.flow = true;
        },
      });
      return doc.toString({ lineWidth: 0 });
    })
    .join('---\n');
}
