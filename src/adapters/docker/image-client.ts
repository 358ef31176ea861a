import type Dockerode from 'dockerode';
import { buildContextFiles } from './build-context.js';
import { dockerCall } from './docker-call.js';

/** The image calls the agent makes. */
export interface ImageClient {
  /** The local image's id, or undefined when the engine does not have it. */
  id(ref: string): Promise<string | undefined>;
  labels(ref: string): Promise<Record<string, string> | undefined>;
  pull(ref: string): Promise<void>;
  /** Builds `tag` from `contextDir` (its .dockerignore honoured), with extra image labels. */
  build(contextDir: string, dockerfile: string, tag: string, args: Record<string, string>, labels: Record<string, string>): Promise<void>;
}

export class DockerodeImageClient implements ImageClient {
  constructor(private readonly docker: Dockerode) {}

  id(ref: string): Promise<string | undefined> {
    return dockerCall(`inspect image ${ref}`, async () => (await this.docker.getImage(ref).inspect()).Id as string | undefined, { ok: [404] });
  }

  labels(ref: string): Promise<Record<string, string> | undefined> {
    return dockerCall(`inspect image ${ref}`, async () => (await this.docker.getImage(ref).inspect()).Config?.Labels ?? {}, { ok: [404] });
  }

  async pull(ref: string): Promise<void> {
    await dockerCall(`pull image ${ref}`, async () => followProgress(this.docker, await this.docker.pull(ref)));
  }

  async build(contextDir: string, dockerfile: string, tag: string, args: Record<string, string>, labels: Record<string, string>): Promise<void> {
    await dockerCall(`build image ${tag} from ${contextDir}`, async () => {
      const src = await buildContextFiles(contextDir);
      const stream = await this.docker.buildImage({ context: contextDir, src }, { t: tag, dockerfile, buildargs: args, labels, rm: true, forcerm: true });
      await followProgress(this.docker, stream);
    });
  }
}

function followProgress(docker: Dockerode, stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, output: { error?: string; errorDetail?: { message?: string } }[]) => {
      if (err) return reject(err);
      const failed = output.find((o) => o.error || o.errorDetail);
      if (failed) return reject(new Error(failed.errorDetail?.message ?? failed.error));
      resolve();
    });
  });
}
