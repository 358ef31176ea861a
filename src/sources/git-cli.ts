import { execFile } from 'node:child_process';

/** The step of a sync that failed; named in every error so an operator knows where to look. */
export type GitOperation = 'init' | 'credentials' | 'fetch' | 'resolve' | 'checkout' | 'switch';

export class GitSyncError extends Error {
  override readonly name = 'GitSyncError';
  constructor(
    readonly operation: GitOperation,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`git ${operation} failed: ${message}`, options);
  }
}

export interface GitRunOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs: number;
  /** Text that must never appear in an error message (e.g. a password echoed by a server). */
  redact?: readonly string[];
}

const STDERR_TAIL = 600;

/**
 * Runs the git CLI without a shell. Rejects with a {@link GitSyncError} for `operation` carrying
 * the tail of git's stderr, with URL credentials and anything in `redact` removed.
 */
export function runGit(operation: GitOperation, args: readonly string[], opts: GitRunOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      [...args],
      { env: opts.env, cwd: opts.cwd, timeout: opts.timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) {
          resolve(stdout);
          return;
        }
        const killed = (err as { killed?: boolean }).killed === true;
        const detail = killed ? `timed out after ${opts.timeoutMs} ms` : stderr.trim() || err.message;
        reject(new GitSyncError(operation, redact(tail(detail), opts.redact ?? []), { cause: err }));
      },
    );
  });
}

const tail = (text: string): string => (text.length > STDERR_TAIL ? `…${text.slice(-STDERR_TAIL)}` : text);

export function redact(text: string, secrets: readonly string[]): string {
  let out = redactUrlCredentials(text);
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('***');
  return out;
}

/** `https://user:token@host/x` → `https://user:***@host/x`. */
export function redactUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*):[^@\s/]*@/gi, '$1:***@');
}
