import { describe, expect, it } from 'vitest';
import type { NetworkInfo } from '../../src/adapters/docker/index.js';
import { networkSpec, type NetworkSpec } from '../../src/manifests/kinds/network.js';
import { volumeSpec, type VolumeSpec } from '../../src/manifests/kinds/volume.js';
import type { Resource } from '../../src/manifests/resource.js';
import type { SourceRef } from '../../src/manifests/source.js';
import { plan as planNetwork, type NetworkObservation } from '../../src/reconcilers/network/plan.js';
import { plan as planVolume } from '../../src/reconcilers/volume/plan.js';

const resource = <S>(kind: string, spec: S): Resource<S> => ({ kind, name: 'x', labels: {}, spec, source: { dir: '/m' } as unknown as SourceRef });
const net = (spec: Record<string, unknown> = {}): Resource<NetworkSpec> => resource('Network', networkSpec.parse(spec));
const vol = (spec: Record<string, unknown> = {}): Resource<VolumeSpec> => resource('Volume', volumeSpec.parse(spec));

const info = (over: Partial<NetworkInfo> = {}): NetworkInfo => {
  const attached = over.attached ?? [];
  return { id: over.id ?? 'n1', name: 't-x', labels: {}, internal: over.internal ?? false, attached, containers: attached.length };
};
const observed = (networks: NetworkInfo[], pendingReconnects: NetworkObservation['pendingReconnects'] = []): NetworkObservation => ({ dockerName: 't-x', networks, pendingReconnects });

describe('Network plan', () => {
  it('creates a declared network that does not exist, with its labels and internal flag', () => {
    expect(planNetwork(net({ internal: true, labels: { a: 'b' } }), observed([]))).toEqual([{ action: 'create', internal: true, labels: { a: 'b' }, reason: 'not created yet' }]);
  });

  it('does nothing when it exists as declared', () => {
    expect(planNetwork(net(), observed([info()]))).toEqual([]);
  });

  it('recreates a network whose internal flag changed, naming the containers it reconnects', () => {
    const actions = planNetwork(net({ internal: true }), observed([info({ attached: [{ id: 'c1', name: 't-api' }] })]));
    expect(actions).toMatchObject([
      { action: 'recreate', networkId: 'n1', internal: true, changes: [{ path: 'spec.internal', from: 'false', to: 'true' }], reason: 'internal cannot change on an existing network; reconnects t-api' },
    ]);
  });

  it('removes empty duplicates and keeps the one in use', () => {
    const inUse = info({ id: 'b', attached: [{ id: 'c', name: 'y' }] });
    expect(planNetwork(net(), observed([info({ id: 'a' }), inUse]))).toEqual([{ action: 'remove', networkId: 'a', reason: 'duplicate network t-x' }]);
  });

  it('finishes reconnecting containers a crashed recreate took off', () => {
    const pending = [{ containerId: 'c1', aliases: ['api'] }];
    expect(planNetwork(net(), observed([info()], pending))).toMatchObject([{ action: 'update', reconnect: pending }]);
  });

  it('removes an undeclared network once it is empty, and waits while containers use it', () => {
    expect(planNetwork(undefined, observed([info()]))).toEqual([{ action: 'remove', networkId: 'n1', reason: 'no longer declared' }]);
    expect(planNetwork(undefined, observed([info({ attached: [{ id: 'c', name: 'y' }] })]))).toMatchObject([{ action: 'wait', retryAfterMs: 2000 }]);
    expect(planNetwork(undefined, observed([]))).toEqual([]);
  });
});

describe('Volume plan', () => {
  it('creates a declared volume that does not exist', () => {
    expect(planVolume(vol({ labels: { a: 'b' } }), { dockerName: 't-x', exists: false })).toEqual([{ action: 'create', labels: { a: 'b' }, reason: 'not created yet' }]);
    expect(planVolume(vol(), { dockerName: 't-x', exists: true })).toEqual([]);
  });

  it('never removes an undeclared volume: a note says how to remove it by hand', () => {
    expect(planVolume(undefined, { dockerName: 't-x', exists: true })).toEqual([
      { action: 'note', reason: 'no longer declared; kept (volumes are never deleted automatically). Remove by hand with: docker volume rm t-x' },
    ]);
    expect(planVolume(undefined, { dockerName: 't-x', exists: false })).toEqual([]);
  });
});
