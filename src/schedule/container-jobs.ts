import { randomBytes } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import type { Logger } from 'pino';
import { LABEL_JOB, LABEL_SERVICE } from '../adapters/docker-types.js';
import type { DockerClients } from '../adapters/docker/index.js';
import type { ExecJobSpec, RunJobSpec } from '../manifests/kinds/schedule.js';
import type { Ownership } from '../reconcilers/ownership.js';
import type { JobFn } from './job-runner.js';

/** How long a one-off container gets between SIGTERM and SIGKILL when its run is aborted. */
const STOP_GRACE_SECONDS = 10;

/**
 * Docker has no API to kill an exec'd process, so the command runs as a child of a small shell that
 * writes the child's pid to a file; an abort then kills that pid through a second exec. Needs
 * /bin/sh in the image, as the seed's `docker exec … sh -c` jobs did.
 */
const WRAPPER = '"$@" & p=$!; { echo "$p" >"$0"; } 2>/dev/null; wait "$p"; r=$?; rm -f "$0"; exit "$r"';
const KILLER =
  'p=$(cat "$0" 2>/dev/null) || exit 0; kill -TERM "$p" 2>/dev/null; i=0; ' +
  'while kill -0 "$p" 2>/dev/null && [ "$i" -lt 20 ]; do sleep 0.5; i=$((i+1)); done; kill -KILL "$p" 2>/dev/null; rm -f "$0"';

/** The running container of a Service this agent instance manages, or an error saying why there is none. */
export async function serviceContainer(docker: DockerClients, own: Ownership, service: string): Promise<string> {
  const list = await docker.containers.list(own.selector({ [LABEL_SERVICE]: service }));
  const running = list.find((c) => c.state === 'running');
  if (!running) {
    const states = list.map((c) => `${c.name} ${c.state}`).join(', ');
    throw new Error(`service "${service}" has no running container${states ? ` (${states})` : ''}`);
  }
  return running.id;
}

/** A command run inside the Service's running container through the exec API. */
export function execJob(docker: DockerClients, own: Ownership, spec: ExecJobSpec, env: Record<string, string>): JobFn {
  return async (signal) => {
    const container = await serviceContainer(docker, own, spec.service);
    const pidFile = `/tmp/.certitrack-job-${randomBytes(6).toString('hex')}.pid`;
    try {
      const res = await docker.containers.exec(container, ['/bin/sh', '-c', WRAPPER, pidFile, ...spec.command], {
        env,
        ...(spec.user ? { user: spec.user } : {}),
        ...(spec.workingDir ? { workingDir: spec.workingDir } : {}),
        signal,
      });
      return { exitCode: res.exitCode, outputTail: res.outputTail, details: { container: container.slice(0, 12) } };
    } catch (err) {
      if (signal.aborted) await docker.containers.exec(container, ['/bin/sh', '-c', KILLER, pidFile]).catch(() => undefined);
      throw err;
    }
  };
}

export interface OneOffOptions {
  /** The resource key the container is labelled with (io.certitrack.job). */
  jobKey: string;
  /** Base of the container name; a random suffix keeps concurrent runs apart. */
  baseName: string;
  /** Directory relative bind-mount paths are resolved against (the manifest's). */
  baseDir: string;
  log?: Logger;
}

/** A one-off container: created, started, waited for, its output tail kept, then removed. */
export function oneOffJob(docker: DockerClients, own: Ownership, spec: RunJobSpec, env: Record<string, string>, opts: OneOffOptions): JobFn {
  return async (signal) => {
    const present = spec.pullPolicy === 'Always' ? false : (await docker.images.id(spec.image)) !== undefined;
    if (!present) {
      if (spec.pullPolicy === 'Never') throw new Error(`image ${spec.image} is not present and pullPolicy is Never`);
      await docker.images.pull(spec.image);
    }
    const name = `${own.dockerName(opts.baseName)}-run-${randomBytes(4).toString('hex')}`;
    const [firstNet, ...otherNets] = spec.networks;
    const id = await docker.containers.create({
      name,
      Image: spec.image,
      Cmd: spec.command,
      Entrypoint: spec.entrypoint,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      User: spec.user,
      WorkingDir: spec.workingDir,
      Labels: own.selector({ [LABEL_JOB]: opts.jobKey }),
      HostConfig: {
        Mounts: spec.volumes.map((v) => ({
          Type: v.type,
          Source: v.type === 'volume' ? own.dockerName(v.source) : isAbsolute(v.source) ? v.source : resolve(opts.baseDir, v.source),
          Target: v.target,
          ReadOnly: v.readOnly,
        })),
        NetworkMode: firstNet ? own.dockerName(firstNet) : 'bridge',
        RestartPolicy: { Name: 'no' },
        // The output that matters is kept in the run history; the container is removed after.
        LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
      },
    });
    try {
      for (const n of otherNets) await docker.networks.connect(own.dockerName(n), id, []);
      await docker.containers.start(id);
      let exitCode: number;
      try {
        exitCode = await docker.containers.wait(id, signal);
      } catch (err) {
        if (!signal.aborted) throw err;
        // Keep what it printed before being stopped; the runner records the run as aborted/timed out.
        await docker.containers.stop(id, STOP_GRACE_SECONDS);
        exitCode = (await docker.containers.inspect(id))?.exitCode ?? -1;
      }
      const outputTail = await docker.containers.logsTail(id, 4096);
      return { exitCode, outputTail, details: { container: name, image: spec.image } };
    } finally {
      await docker.containers.remove(id).catch((err: unknown) => opts.log?.warn({ err, container: name }, 'could not remove job container; the next reconcile retries'));
    }
  };
}
