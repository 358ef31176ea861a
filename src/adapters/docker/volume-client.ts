import type Dockerode from 'dockerode';
import { dockerCall, labelFilter } from './docker-call.js';

export interface VolumeInfo {
  name: string;
  labels: Record<string, string>;
}

/** The volume calls the agent makes. There is no remove: the agent never deletes a volume. */
export interface VolumeClient {
  list(labels: Record<string, string>): Promise<VolumeInfo[]>;
  create(name: string, labels: Record<string, string>): Promise<void>;
  /** Whether a volume of exactly this name exists, whoever made it (external volumes carry no labels). */
  exists(name: string): Promise<boolean>;
}

export class DockerodeVolumeClient implements VolumeClient {
  constructor(private readonly docker: Dockerode) {}

  list(labels: Record<string, string>): Promise<VolumeInfo[]> {
    return dockerCall('list volumes', async () => {
      const res = await this.docker.listVolumes({ filters: { label: labelFilter(labels) } });
      return (res.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
    });
  }

  async create(name: string, labels: Record<string, string>): Promise<void> {
    await dockerCall(`create volume ${name}`, () => this.docker.createVolume({ Name: name, Labels: labels }));
  }

  exists(name: string): Promise<boolean> {
    return dockerCall(`inspect volume ${name}`, async () => !!(await this.docker.getVolume(name).inspect()), { ok: [404], fallback: false });
  }
}
