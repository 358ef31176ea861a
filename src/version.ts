import { readFileSync } from 'node:fs';

/** The agent's version from package.json, recorded in backup manifests and shown by --version. */
export const AGENT_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
