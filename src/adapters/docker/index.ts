import type Dockerode from 'dockerode';
import { type ContainerClient, DockerodeContainerClient } from './container-client.js';
import { DockerodeEventClient, type EventClient } from './event-client.js';
import { DockerodeImageClient, type ImageClient } from './image-client.js';
import { DockerodeNetworkClient, type NetworkClient } from './network-client.js';
import { DockerodeSessionClient, type SessionClient } from './session-client.js';
import { DockerodeVolumeClient, type VolumeClient } from './volume-client.js';

export type { ContainerClient, ContainerCreateOptions } from './container-client.js';
export type { EventClient } from './event-client.js';
export type { ImageClient } from './image-client.js';
export type { NetworkClient, NetworkInfo } from './network-client.js';
export type { ExecSession, LogLine, SessionClient } from './session-client.js';
export type { VolumeClient, VolumeInfo } from './volume-client.js';

/**
 * The Docker engine as the agent sees it: one small client per resource (testcontainers-node's
 * ContainerClient / ImageClient / NetworkClient split). Each part of the agent takes only the
 * clients it uses, so a fake in a test implements a handful of methods, not the whole engine.
 */
export interface DockerClients {
  readonly containers: ContainerClient;
  readonly images: ImageClient;
  readonly networks: NetworkClient;
  readonly volumes: VolumeClient;
  readonly events: EventClient;
  /** `logs` and `exec` for people, through the agent's API. */
  readonly sessions: SessionClient;
}

export function dockerClients(docker: Dockerode): DockerClients {
  return {
    containers: new DockerodeContainerClient(docker),
    images: new DockerodeImageClient(docker),
    networks: new DockerodeNetworkClient(docker),
    volumes: new DockerodeVolumeClient(docker),
    events: new DockerodeEventClient(docker),
    sessions: new DockerodeSessionClient(docker),
  };
}
