import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GitSyncError } from './git-cli.js';

/**
 * How git authenticates, without a secret ever reaching a command line (visible to every user in
 * `ps`) or git's config (written to disk, and erased by git's `store` helper after a failed login):
 *
 * - HTTP(S): the credentials file is in git-credentials format (`https://USER:TOKEN@host`, one per
 *   line, as `git credential-store` writes it). The matching line is read at every sync, so a
 *   rotated token is picked up, and handed to a fixed GIT_ASKPASS script through the environment
 *   of that one git process.
 * - SSH (`git@host:path`, `ssh://…`): the credentials file is a private key, used with
 *   IdentitiesOnly, BatchMode and a known_hosts file of the agent's own.
 */
export interface GitAuth {
  env: Record<string, string>;
  /** Values to scrub from error messages. */
  secrets: string[];
}

export const isSshUrl = (url: string): boolean => /^ssh:\/\//i.test(url) || /^[^/:@]+@[^/:]+:/.test(url);

/**
 * Rejects URLs git could mistake for an option, and URLs carrying a password, which would end up in
 * logs, /status and process listings; those go in the credentials file.
 */
export function checkRepositoryUrl(url: string): void {
  if (url.length === 0 || url.startsWith('-')) throw new GitSyncError('init', `invalid repository URL "${url}"`);
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i.test(url)) {
    throw new GitSyncError('init', 'the repository URL contains a password; put it in the credentials file instead');
  }
}

export function checkBranchName(branch: string): void {
  if (!/^[A-Za-z0-9._/-]+$/.test(branch) || branch.startsWith('-') || branch.includes('..') || branch.endsWith('.lock')) {
    throw new GitSyncError('init', `invalid branch name "${branch}"`);
  }
}

const ASKPASS = `#!/bin/sh
# Answers git's credential prompts from the environment of the git process that runs it.
case "$1" in
  Username*) printf '%s\\n' "$CERTITRACK_GIT_USERNAME" ;;
  *) printf '%s\\n' "$CERTITRACK_GIT_PASSWORD" ;;
esac
`;

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export async function gitAuth(url: string, credentialsFile: string | undefined, workDir: string): Promise<GitAuth> {
  if (isSshUrl(url)) {
    const ssh = ['ssh', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${shellQuote(join(workDir, 'known_hosts'))}`];
    if (credentialsFile) ssh.push('-o', 'IdentitiesOnly=yes', '-i', shellQuote(credentialsFile));
    return { env: { GIT_SSH_COMMAND: ssh.join(' ') }, secrets: [] };
  }
  if (!credentialsFile) return { env: {}, secrets: [] };

  let text: string;
  try {
    text = await readFile(credentialsFile, 'utf8');
  } catch (err) {
    throw new GitSyncError('credentials', `cannot read ${credentialsFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  const entry = matchCredential(text, url);
  if (!entry) throw new GitSyncError('credentials', `${credentialsFile} has no https://USER:TOKEN@host line for ${hostOf(url) ?? url}`);

  const askpass = join(workDir, 'askpass.sh');
  await writeFile(askpass, ASKPASS, { mode: 0o700 });
  return {
    env: { GIT_ASKPASS: askpass, CERTITRACK_GIT_USERNAME: entry.username, CERTITRACK_GIT_PASSWORD: entry.password },
    secrets: [entry.password, encodeURIComponent(entry.password)],
  };
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/** The first line whose scheme and host match the repository URL (git-credentials semantics). */
export function matchCredential(text: string, repoUrl: string): { username: string; password: string } | undefined {
  let repo: URL;
  try {
    repo = new URL(repoUrl);
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    let cred: URL;
    try {
      cred = new URL(trimmed);
    } catch {
      continue;
    }
    if (cred.protocol !== repo.protocol || cred.host !== repo.host || !cred.password) continue;
    return { username: decodeURIComponent(cred.username), password: decodeURIComponent(cred.password) };
  }
  return undefined;
}
