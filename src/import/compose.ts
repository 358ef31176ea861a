import { basename, isAbsolute, relative, resolve } from 'node:path';
import { Document, isScalar, isSeq, parseDocument, visit } from 'yaml';
import { isObj, type Json, type ServiceContext, translateService } from './compose-service.js';
import { API_VERSION } from '../manifests/load.js';
import { ResourceNames } from './resource-names.js';


export interface ImportComposeOptions {
  /** Folder of the compose file; its relative build contexts and bind mounts start there. Default: the working directory. */
  composeDir?: string;
  /** Folder the manifests will be written to; relative paths are rewritten to start there. Default: composeDir. */
  outputDir?: string;
  /** Compose's project name, to say where compose kept volume data. Default: the file's `name`, else composeDir's name. */
  projectName?: string;
  /** The compose file's name, for the header of each manifest. */
  sourceName?: string;
}

export interface ImportComposeResult {
  /** Relative file name → YAML text: one file per service, plus networks.yaml and volumes.yaml. */
  files: Map<string, string>;
  /** Everything not translated exactly, each naming the service (or section) and key. */
  warnings: string[];
}

const TOP_LEVEL = new Set(['services', 'networks', 'volumes', 'name', 'version']);

/**
 * Converts a docker-compose file into certitrack manifests (Service, Network and Volume). Values
 * interpolated from the host (`${VAR}`) become secret references, never inlined. The output is
 * meant to be read before it is applied: every approximation is in `warnings`, and a service's own
 * warnings are repeated as comments at the top of its file.
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
  const warnings: string[] = [];

  for (const key of Object.keys(root)) {
    if (key === 'version') warnings.push('version: not translated (obsolete in compose, and manifests have no equivalent)');
    else if (!TOP_LEVEL.has(key)) warnings.push(`${key}: top-level section not translated`);
  }

  const renamed = (kind: string) => (original: string, name: string) => warnings.push(`${kind} "${original}" is named "${name}" in the manifests (names are lower-case letters, digits, "-" and "_")`);
  const services = new ResourceNames(renamed('service'));
  const networks = new ResourceNames(renamed('network'));
  const volumes = new ResourceNames(renamed('volume'));
  const declaredNetworks = isObj(root.networks) ? root.networks : {};
  const declaredVolumes = isObj(root.volumes) ? root.volumes : {};
  // Registered in file order first, so that every later reference maps to the same name.
  for (const name of Object.keys(root.services)) services.get(name);
  for (const name of Object.keys(declaredNetworks)) networks.get(name);
  for (const name of Object.keys(declaredVolumes)) volumes.get(name);

  // Inside the manifests folder a path stays relative (it travels with the folder, e.g. in git);
  // anything outside is written absolute, as the agent requires (relative paths may not climb out).
  const hostPath = (path: string): string => {
    if (isAbsolute(path)) return path;
    const full = resolve(composeDir, path);
    const rel = relative(outputDir, full) || '.';
    if (rel === '..' || rel.startsWith('../') || isAbsolute(rel)) return full;
    return rel === '.' || rel.startsWith('./') ? rel : `./${rel}`;
  };

  const files = new Map<string, string>();
  const usedNetworks = new Set<string>();
  const usedVolumes = new Set<string>();
  const header = [`Imported from ${sourceName} by certitrack-agent import-compose; review before applying.`];

  for (const [original, raw] of Object.entries(root.services)) {
    const name = services.get(original);
    const own: string[] = [];
    const ctx: ServiceContext = {
      services,
      networks,
      volumes,
      hostPath,
      usedNetworks,
      usedVolumes,
      warn: (key, message) => {
        own.push(`${key}: ${message}`);
        warnings.push(`service "${original}": ${key}: ${message}`);
      },
    };
    const spec = translateService(original, isObj(raw) ? raw : {}, ctx);
    const file = ['networks', 'volumes'].includes(name) ? `${name}-service.yaml` : `${name}.yaml`;
    const notes = own.length > 0 ? ['', 'Not translated exactly:', ...own.map((w) => `- ${w}`)] : [];
    files.set(file, toYaml([manifest('Service', name, spec)], [...header, ...notes]));
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
    for (const key of Object.keys(config)) {
      if (!['driver', 'internal', 'external'].includes(key)) warnings.push(`network "${original}": ${key}: not translated`);
    }
    networkDocs.push(manifest('Network', networks.get(original), spec));
  }
  if (networkDocs.length > 0) files.set('networks.yaml', toYaml(networkDocs, header));

  const volumeDocs: Json[] = [];
  for (const original of unique([...Object.keys(declaredVolumes), ...usedVolumes])) {
    const raw = declaredVolumes[original];
    const config = isObj(raw) ? raw : {};
    if (!(original in declaredVolumes)) warnings.push(`volume "${original}" is used but not declared; declared it`);
    if (config.driver !== undefined && config.driver !== 'local') warnings.push(`volume "${original}": driver ${String(config.driver)} is not translated; using local`);
    const composeName = typeof config.name === 'string' ? config.name : config.external === true ? original : `${projectName}_${original}`;
    // The one warning that protects data: without it the database comes up empty and looks lost.
    warnings.push(
      `volume "${original}": compose kept its data in Docker volume "${composeName}"; the agent creates a volume of its own, ` +
        'so copy the data into it before switching over (docs/install.md, "Moving from docker compose")',
    );
    for (const key of Object.keys(config)) {
      if (!['driver', 'name', 'external'].includes(key)) warnings.push(`volume "${original}": ${key}: not translated`);
    }
    volumeDocs.push(manifest('Volume', volumes.get(original), { driver: 'local' }));
  }
  if (volumeDocs.length > 0) files.set('volumes.yaml', toYaml(volumeDocs, header));

  return { files, warnings };
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
          if (isScalar(pair.key) && (pair.key.value === 'command' || pair.key.value === 'entrypoint') && isSeq(pair.value)) pair.value.flow = true;
        },
      });
      return doc.toString({ lineWidth: 0 });
    })
    .join('---\n');
}
