import { resolve } from 'node:path';
import { hashBuildContext } from '../../adapters/docker/build-context.js';
import type { ImageClient } from '../../adapters/docker/index.js';
import type { ServiceSpec } from '../../manifests/kinds/service.js';
import type { Resource } from '../../manifests/resource.js';
import { KeyedMutex } from '../../util/keyed-mutex.js';
import { TerminalError } from '../types.js';

const LABEL_CONTEXT_HASH = 'io.certitrack.context-hash';

/**
 * Makes each service's image present as its pullPolicy says and returns its id. With `build`, the
 * image is (re)built when missing or when the build context changed, so committing a change to the
 * context is enough to roll it out. `Always` re-pulls (or rebuilds) at most once per
 * `refreshMs`, not on every reconcile: reconciles are frequent and level-triggered, and a new
 * image id then recreates the container through the spec hash. Work on one image is serialised,
 * so services sharing a built image build it once.
 */
export class ImageManager {
  private readonly locks = new KeyedMutex();
  private readonly refreshedAt = new Map<string, number>();

  constructor(
    private readonly images: ImageClient,
    private readonly refreshMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  ensure(svc: Resource<ServiceSpec>, log: { info(o: object, m: string): void }): Promise<string> {
    return this.locks.run(svc.spec.image, () => this.ensureLocked(svc, log));
  }

  private async ensureLocked(svc: Resource<ServiceSpec>, log: { info(o: object, m: string): void }): Promise<string> {
    const { image, build, pullPolicy } = svc.spec;
    const id = await this.images.id(image);
    const last = this.refreshedAt.get(image);
    const refreshDue = pullPolicy === 'Always' && (last === undefined || this.now() - last >= this.refreshMs);
    if (build) {
      const context = resolve(svc.source.dir, build.context);
      const contextHash = await hashBuildContext(context);
      if (id && !refreshDue && (await imageContextHash(this.images, image)) === contextHash) return id;
      log.info({ image, context }, 'building image');
      await this.images.build(context, build.dockerfile, image, build.args, { [LABEL_CONTEXT_HASH]: contextHash });
      this.refreshedAt.set(image, this.now());
      return (await this.images.id(image)) as string;
    }
    if (pullPolicy === 'Never') {
      if (!id) throw new TerminalError(`image ${image} is not present and pullPolicy is Never`);
      return id;
    }
    if (id && !refreshDue) return id;
    log.info({ image }, 'pulling image');
    await this.images.pull(image);
    this.refreshedAt.set(image, this.now());
    const pulled = await this.images.id(image);
    if (!pulled) throw new Error(`image ${image} still missing after pull`);
    return pulled;
  }
}

async function imageContextHash(images: ImageClient, image: string): Promise<string | undefined> {
  return (await images.labels(image))?.[LABEL_CONTEXT_HASH];
}
