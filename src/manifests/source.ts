import type { Document, LineCounter } from 'yaml';
import { isMap, isScalar, isSeq, type Node } from 'yaml';

export type FieldPath = readonly (string | number)[];

export interface Position {
  line: number;
  col: number;
}

/** Where a document came from, able to point at any field inside it. */
export class SourceRef {
  constructor(
    /** Path as given to the loader, relative to the working directory when possible, for messages. */
    readonly file: string,
    /** Directory of the file, for resolving relative paths written in the manifest. */
    readonly dir: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  /** The same document with relative paths resolving from `dir` instead. */
  addressedAt(dir: string): SourceRef {
    return new SourceRef(this.file, dir, this.doc, this.lines);
  }

  /** Line and column of the deepest node that exists along `path` (the document start if none). */
  positionOf(path: FieldPath, keyInsteadOfValue = false): Position {
    let node: Node | null | undefined = this.doc.contents as Node | null;
    let best = node?.range?.[0] ?? 0;
    for (const segment of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) break;
        const keyNode = pair.key as Node;
        if (keyInsteadOfValue && segment === path[path.length - 1]) {
          best = keyNode.range?.[0] ?? best;
          node = null;
          break;
        }
        node = pair.value as Node | null;
        best = node?.range?.[0] ?? keyNode.range?.[0] ?? best;
      } else if (isSeq(node) && typeof segment === 'number') {
        node = node.items[segment] as Node | null | undefined;
        if (!node) break;
        best = node.range?.[0] ?? best;
      } else {
        break;
      }
    }
    const { line, col } = this.lines.linePos(best);
    return { line, col };
  }
}

export function formatPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

/** A problem with the manifests, always naming file, line, column and field. */
export interface ManifestError {
  file: string;
  line: number;
  col: number;
  /** Field path such as `spec.ports[0]`; empty for file-level problems. */
  path: string;
  message: string;
}

export function formatManifestError(e: ManifestError): string {
  return `${e.file}:${e.line}:${e.col}: ${e.path ? `${e.path}: ` : ''}${e.message}`;
}

export function errorAt(source: SourceRef, path: FieldPath, message: string, atKey = false): ManifestError {
  const { line, col } = source.positionOf(path, atKey);
  return { file: source.file, line, col, path: formatPath(path), message };
}
