import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { LABEL_JOB } from '../adapters/docker-types.js';
import { AGENT_VERSION } from '../version.js';
import { ownedContainersMounting } from './mounting-containers.js';
import type { SourceContext } from './sources.js';
import { writeAll } from './write-all.js';

/** Where the volume is mounted in its archive container; `/data/.` archives its content as `./…`, as `tar -C /data -cf - .` did. */
const MOUNT = '/data';

/**
 * The image of the container a volume is read and written through. The container is created but
 * never started (the engine's archive API mounts its volumes itself), so any image present on the
 * engine does, and none is ever pulled: the one configured (CERTITRACK_HELPER_IMAGE), else the
 * image of a container of this agent that mounts the volume, else the agent's own image, else the
 * image of any container of this agent.
 */
export async function archiveImageFor(ctx: SourceContext, volume: string): Promise<string> {
  const { images, containers } = ctx.docker;
  if (ctx.helperImage) {
    if ((await images.id(ctx.helperImage)) === undefined) throw new Error(`helper image ${ctx.helperImage} (CERTITRACK_HELPER_IMAGE) is not on this engine; backups never pull images`);
    return ctx.helperImage;
  }
  const mounting = await ownedContainersMounting(containers, ctx.own, { volume });
  if (mounting[0]) return mounting[0].imageId;
  for (const tag of [`certitrack-agent:${AGENT_VERSION}`, 'certitrack-agent:latest']) if ((await images.id(tag)) !== undefined) return tag;
  const any = (await containers.list(ctx.own.selector()))[0];
  const image = any ? (await containers.inspect(any.id))?.imageId : undefined;
  if (image) return image;
  throw new Error(`no image on this engine to create the container that reads volume ${volume} (backups never pull images): set CERTITRACK_HELPER_IMAGE to a local image`);
}

/** Runs `fn` with a created (never started) container that mounts `volume` at /data; always removes it. */
async function withArchiveContainer<T>(ctx: SourceContext, volume: string, readOnly: boolean, fn: (id: string) => Promise<T>): Promise<T> {
  const id = await ctx.docker.containers.create({
    name: ctx.own.dockerName(`backup-volume-${randomBytes(4).toString('hex')}`),
    Image: await archiveImageFor(ctx, volume),
    // Never run: the entrypoint only satisfies images that declare no command.
    Entrypoint: ['/nonexistent'],
    Cmd: [],
    Labels: ctx.own.selector({ [LABEL_JOB]: ctx.jobKey }),
    HostConfig: { Binds: [`${volume}:${MOUNT}${readOnly ? ':ro' : ''}`], NetworkMode: 'none' },
  });
  try {
    return await fn(id);
  } finally {
    await ctx.docker.containers.remove(id).catch((err: unknown) => ctx.log?.warn({ err: (err as Error).message }, 'could not remove the volume archive container'));
  }
}

/** Streams the volume's content as a tar (GET /containers/{id}/archive), with back-pressure. */
export function volumeTar(ctx: SourceContext, volume: string, out: Writable, signal: AbortSignal): Promise<void> {
  return withArchiveContainer(ctx, volume, true, async (id) => writeAll(await ctx.docker.containers.getArchive(id, `${MOUNT}/.`, signal), out, signal));
}

/** Extracts a tar over the volume's content (PUT /containers/{id}/archive): files not in it are left, ownership and modes as stored. */
export function volumeUntar(ctx: SourceContext, volume: string, body: Readable, signal: AbortSignal): Promise<void> {
  return withArchiveContainer(ctx, volume, false, (id) => ctx.docker.containers.putArchive(id, MOUNT, body, signal));
}
