import type { ContainerClient } from '../../adapters/docker/index.js';
import { LABEL_SERVICE } from '../../adapters/docker-types.js';
import type { ServiceReload } from '../../manifests/kinds/service.js';
import type { Ownership } from '../ownership.js';

/** The command that delivers a reload; a signal goes to PID 1 through the shell's kill builtin. */
export function reloadCommand(reload: ServiceReload): string[] {
  return 'exec' in reload ? reload.exec : ['/bin/sh', '-c', `kill -s ${reload.signal.replace(/^SIG/, '')} 1`];
}

/**
 * Runs a service's reload in each of its running containers (a graceful `nginx -s reload` lets
 * open connections finish on the old workers). No running container needs nothing: it reads the
 * current state when it starts. A non-zero exit throws, naming the service and the command.
 */
export async function reloadService(containers: ContainerClient, own: Ownership, service: string, command: readonly string[], signal?: AbortSignal): Promise<number> {
  const running = (await containers.list(own.selector({ [LABEL_SERVICE]: service }))).filter((c) => c.state === 'running');
  for (const c of running) {
    const res = await containers.exec(c.id, [...command], signal ? { signal } : {});
    if (res.exitCode !== 0) {
      const tail = res.outputTail.trim().split('\n').slice(-3).join(' | ');
      throw new Error(`reload of service ${service} (${command.join(' ')}) exited ${res.exitCode}${tail ? `: ${tail}` : ''}`);
    }
  }
  return running.length;
}
