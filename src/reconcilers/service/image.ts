import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { DockerAdapter } from '../../adapters/docker.js';
import type { ServiceSpec } from '../../manifests/kinds/service.js';
import type { Resource } from '../../manifests/resource.js';
import { TerminalError } from '../types.js';

const LABEL_CONTEXT_HASH = 'io.certitrack.context-hash';

/**
 * Makes the service's image present as its pullPolicy says and returns its id. With `build`, the
 * image is (re)built when missing or when the build context changed, so committing a change to the
 * context is enough to roll it out.
 */
export async function ensureImage(docker: DockerAdapter, svc: Resource<ServiceSpec>, log: { info(o: object, m: string): void }): Promise<string> {
  const { image, build, pullPolicy } = svc.spec;
  if (build) {
    const context = resolve(svc.source.dir, build.context);
    const contextHash = await hashDirectory(context);
    const id = await docker.imageId(image);
    if (id && pullPolicy !== 'Always' && (await imageContextHash(docker, image)) === contextHash) return id;
    log.info({ image, context }, 'building image');
    await docker.buildImage(context, build.dockerfile, image, build.args, { [LABEL_CONTEXT_HASH]: contextHash });
    return (await docker.imageId(image)) as string;
  }
  const id = await docker.imageId(image);
  if (pullPolicy === 'Never') {
    if (!id) throw new TerminalError(`image ${image} is not present and pullPolicy is Never`);
    return id;
  }
  if (id && pullPolicy === 'IfNotPresent') return id;
  log.info({ image }, 'pulling image');
  await docker.pullImage(image);
  const pulled = await docker.imageId(image);
  if (!pulled) throw new Error(`image ${image} still missing after pull`);
  return pulled;
}

async function imageContextHash(docker: DockerAdapter, image: string): Promise<string | undefined> {
  return (await docker.imageLabels(image))?.[LABEL_CONTEXT_HASH];
}

/** A hash of every file's path and content under the context (small: Dockerfile contexts). */
export async function hashDirectory(dir: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (d: string): Promise<void> => {
    const entries = (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const full = join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) h.update(relative(dir, full)).update('\0').update(await readFile(full)).update('\0');
    }
  };
  await walk(dir);
  return h.digest('hex').slice(0, 16);
}
