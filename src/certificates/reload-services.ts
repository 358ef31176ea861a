import type { DockerClients } from '../adapters/docker/index.js';
import { LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_SERVICE, MANAGED_BY_VALUE } from '../adapters/docker-types.js';
import type { ReloadAction } from '../manifests/kinds/certificate.js';

export type ReloadOutcome = 'reloaded' | 'not-running';

/** The command that delivers the reload; a signal goes to PID 1 (nginx's master with daemon off) via the shell's kill builtin. */
export function reloadCommand(action: ReloadAction): string[] {
  return action.signal ? ['/bin/sh', '-c', `kill -s ${action.signal.replace(/^SIG/, '')} 1`] : action.command;
}

/**
 * Tells a Service's running container(s) that the certificate changed: `nginx -s reload` by default,
 * a graceful reload that lets open connections finish on the old workers. A service with no running
 * container needs nothing: it reads the new files when it starts. A non-zero exit throws.
 */
export async function reloadService(
  docker: Pick<DockerClients, 'containers'>,
  instance: string,
  action: ReloadAction,
  signal?: AbortSignal,
): Promise<ReloadOutcome> {
  const containers = await docker.containers.list({ [LABEL_MANAGED_BY]: MANAGED_BY_VALUE, [LABEL_INSTANCE]: instance, [LABEL_SERVICE]: action.service });
  const running = containers.filter((c) => c.state === 'running');
  if (running.length === 0) return 'not-running';
  const cmd = reloadCommand(action);
  for (const c of running) {
    const res = await docker.containers.exec(c.id, cmd, { signal });
    if (res.exitCode !== 0) {
      const tail = res.outputTail.trim().split('\n').slice(-3).join(' | ');
      throw new Error(`reload of service ${action.service} (${cmd.join(' ')}) exited ${res.exitCode}${tail ? `: ${tail}` : ''}`);
    }
  }
  return 'reloaded';
}
