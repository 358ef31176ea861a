import { describe, expect, it } from 'vitest';
import { DesiredState } from '../../src/manifests/desired-state.js';
import { serviceSpec, type ServiceSpec } from '../../src/manifests/kinds/service.js';
import type { Resource } from '../../src/manifests/resource.js';
import type { SourceRef } from '../../src/manifests/source.js';
import { desiredContainer } from '../../src/reconcilers/service/container-spec.js';
import { followerLinks } from '../../src/reconcilers/service/follower-links.js';
import { Ownership } from '../../src/reconcilers/ownership.js';

const own = new Ownership('t');
const svc = (name: string, spec: Record<string, unknown>): Resource<ServiceSpec> => ({
  kind: 'Service',
  name,
  labels: {},
  spec: serviceSpec.parse({ image: 'app:1', pullPolicy: 'IfNotPresent', ...spec }),
  source: { dir: '/m', file: `${name}.yaml` } as unknown as SourceRef,
});

describe('follower links', () => {
  const api = svc('api', { networks: [{ name: 'front', aliases: ['backend'] }, 'back'] });
  const web = svc('web', { networks: ['front'] });
  const db = svc('db', { networks: ['back'] });
  const nginx = svc('nginx', {
    networks: ['front', 'edge'],
    dependsOn: ['api', 'web', 'db'],
    reload: { exec: ['nginx', '-s', 'reload'] },
  });
  const desired = new DesiredState([api, web, db, nginx], new Date(0), 'test');

  it('link each followed service name and alias on a shared network to the holder of its Docker name', () => {
    // db shares no network with nginx and edge has no followed service: neither gets a link.
    expect(followerLinks(nginx, desired, own)).toEqual({ front: ['t-api:api', 't-api:backend', 't-web:web'] });
  });

  it('only a follower (a service with a reload) gets links, so no other container changes', () => {
    const worker = svc('worker', { networks: ['front'], dependsOn: ['api'] });
    expect(followerLinks(worker, new DesiredState([api, worker], new Date(0), 'test'), own)).toEqual({});
    const facts = { imageId: 'sha256:a', secretDigests: {} };
    expect(desiredContainer(worker, own, { ...facts, links: {} }).hash).toBe(desiredContainer(worker, own, facts).hash);
  });

  it('puts the links on the container endpoints: the first network at create, the others at connect', () => {
    const facts = { imageId: 'sha256:a', secretDigests: {}, links: { front: ['t-api:api'], edge: ['t-x:x'] } };
    const c = desiredContainer(nginx, own, facts);
    expect(c.create.NetworkingConfig?.EndpointsConfig?.['t-front']).toEqual({ Aliases: ['nginx'], Links: ['t-api:api'] });
    expect(c.extraNetworks).toEqual([{ network: 't-edge', aliases: ['nginx'], links: ['t-x:x'] }]);
  });
});
