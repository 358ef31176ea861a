import type { Readable, Writable } from 'node:stream';

/** Labels every object the agent creates carries; it never touches an object without them. */
export const LABEL_MANAGED_BY = 'io.certitrack.managed-by';
export const MANAGED_BY_VALUE = 'certitrack-agent';
/** Which agent instance owns it: lets several agents (or test runs) share one engine safely. */
export const LABEL_INSTANCE = 'io.certitrack.instance';
export const LABEL_SERVICE = 'io.certitrack.service';
export const LABEL_NETWORK = 'io.certitrack.network';
export const LABEL_VOLUME = 'io.certitrack.volume';
export const LABEL_SPEC_HASH = 'io.certitrack.spec-hash';
/** The hashed spec itself (secrets only as HMACs), so a plan can name the fields that changed. */
export const LABEL_SPEC = 'io.certitrack.spec';
/** On images the agent built: the hash of the build context they were built from. */
export const LABEL_CONTEXT_HASH = 'io.certitrack.context-hash';
/** One-off job containers (schedules, backups) carry the key of the resource that ran them. */
export const LABEL_JOB = 'io.certitrack.job';

export interface ContainerSummary {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** Docker's state: created, running, paused, restarting, removing, exited, dead. */
  state: string;
}

export interface ContainerDetails extends ContainerSummary {
  running: boolean;
  exitCode: number;
  startedAt: Date | undefined;
  finishedAt: Date | undefined;
  /** undefined when the container has no healthcheck. */
  health: 'starting' | 'healthy' | 'unhealthy' | undefined;
  /** What the last healthcheck probe printed (trimmed), to say why a container is not healthy. */
  healthOutput?: string;
  oomKilled: boolean;
  image: string;
  /** The image's id (sha256:…): present on the engine for as long as this container exists. */
  imageId: string;
  /** Volumes and bind mounts, as the engine resolved them. */
  mounts: readonly ContainerMount[];
  /** IPv4 address per attached network name. */
  networks: Record<string, string>;
  /** DNS aliases per attached network name. */
  aliases: Record<string, string[]>;
  /** Per network, the `container:alias` links only this container resolves (a follower's view of the services it follows). */
  links: Record<string, string[]>;
}

export interface ContainerMount {
  type: 'volume' | 'bind' | 'tmpfs' | string;
  /** The volume's name (type volume). */
  name?: string;
  /** The host path (bind; for a volume, where the engine keeps it). */
  source: string;
  destination: string;
  readOnly: boolean;
}

export interface ExecResult {
  exitCode: number;
  /** The last few KiB of stderr (and stdout when not streamed), for error messages and run history. */
  outputTail: string;
}

export interface ExecOptions {
  env?: Record<string, string>;
  user?: string;
  workingDir?: string;
  /** When given, stdout is piped here (back-pressure respected) instead of being collected. */
  stdout?: Writable;
  /** When given, written to the process's stdin, which is then closed. */
  stdin?: Readable;
  signal?: AbortSignal;
}

export interface DockerEvent {
  type: 'container' | 'network' | 'volume' | 'image' | 'daemon';
  action: string;
  id: string;
  labels: Record<string, string>;
  time: Date;
}
