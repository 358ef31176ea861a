import { lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { importCompose } from './compose.js';

/** `import-compose`'s exit codes: 3 says the manifests were written but do not behave exactly as compose did. */
export const IMPORT_EXIT = { translated: 0, untranslated: 3 } as const;

export interface ImportComposeFlags {
  out: string;
  profile?: string[];
  force?: boolean;
}

export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

/**
 * Converts a compose file and writes the manifests into `flags.out`. Refuses, before writing
 * anything, when a file it would write already exists (the user may have edited it), unless
 * `force`. Returns the exit code; throws (exit 1) on a file that is not compose or exists.
 */
export async function runImportCompose(file: string, flags: ImportComposeFlags, out: Output): Promise<number> {
  const outputDir = resolve(flags.out);
  const result = importCompose(await readFile(file, 'utf8'), {
    composeDir: dirname(resolve(file)),
    outputDir,
    sourceName: basename(file),
    profiles: flags.profile ?? [],
  });
  if (!flags.force) await refuseToOverwrite(flags.out, [...result.files.keys()]);
  await mkdir(outputDir, { recursive: true });
  for (const [name, text] of result.files) await writeFile(join(outputDir, name), text);

  for (const n of result.notes) out.stderr(`note: ${n}\n`);
  for (const w of result.warnings) out.stderr(`warning: ${w}\n`);
  out.stdout(`wrote ${result.files.size} file(s) to ${flags.out}\n`);
  if (result.secretKeys.length > 0) out.stdout(`define in your secrets file (KEY=VALUE lines): ${result.secretKeys.join(', ')}\n`);
  out.stdout(`check with: certitrack-agent validate ${flags.out} --secrets-file <your secrets.env>\n`);
  if (result.warnings.length === 0) return IMPORT_EXIT.translated;
  out.stderr(`${result.warnings.length} thing(s) not translated exactly: see the warnings above (and the comments atop each file)\n`);
  return IMPORT_EXIT.untranslated;
}

async function refuseToOverwrite(dir: string, names: readonly string[]): Promise<void> {
  const existing: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (await lstat(path).then(() => true, () => false)) existing.push(path);
  }
  if (existing.length > 0) {
    throw new Error(`${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}; nothing was written (--force overwrites)`);
  }
}
