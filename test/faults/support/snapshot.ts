import { containersOf, docker } from '../../helpers/docker.js';

/** What "touched" means for a container: a different id (recreated), a new start, or another state. */
export interface ContainerMark {
  service: string;
  id: string;
  startedAt: string;
  state: string;
}

export async function markContainers(instance: string): Promise<ContainerMark[]> {
  const list = await containersOf(instance);
  const marks = await Promise.all(
    list.map(async (c) => {
      const info = await docker.getContainer(c.Id).inspect();
      return { service: c.Labels['io.certitrack.service'] ?? '', id: c.Id, startedAt: info.State.StartedAt, state: info.State.Status };
    }),
  );
  return marks.sort((a, b) => (a.service + a.id < b.service + b.id ? -1 : 1));
}

/** Containers added, removed, recreated, restarted or whose state changed between two marks. */
export function changedContainers(before: readonly ContainerMark[], after: readonly ContainerMark[]): string[] {
  const key = (m: ContainerMark): string => `${m.id}|${m.startedAt}|${m.state}`;
  const was = new Set(before.map(key));
  const is = new Set(after.map(key));
  return [
    ...before.filter((m) => !is.has(key(m))).map((m) => `${m.service}: ${m.id.slice(0, 12)} changed or vanished`),
    ...after.filter((m) => !was.has(key(m)) && !before.some((b) => b.id === m.id)).map((m) => `${m.service}: ${m.id.slice(0, 12)} appeared`),
  ];
}
