import { describe, expect, it } from 'vitest';
import type { ImageClient } from '../../src/adapters/docker/index.js';
import type { ServiceSpec } from '../../src/manifests/kinds/service.js';
import type { Resource } from '../../src/manifests/resource.js';
import { ImageManager } from '../../src/reconcilers/service/image.js';
import { TerminalError } from '../../src/reconcilers/types.js';

// Pulling needs a registry, which this machine cannot reach: a fake engine behind the same
// interface counts pulls. Building is covered for real by the example stack's integration tests.
function fakeEngine(present: boolean) {
  let pulls = 0;
  let has = present;
  const engine = {
    id: async () => (has ? `sha256:${pulls}` : undefined),
    pull: async () => {
      pulls++;
      has = true;
    },
  } as unknown as ImageClient;
  return { engine, pulls: () => pulls };
}

const svc = (pullPolicy: ServiceSpec['pullPolicy']) => ({ spec: { image: 'x:1', pullPolicy } }) as unknown as Resource<ServiceSpec>;
const log = { info: () => undefined };

describe('ImageManager', () => {
  it('IfNotPresent pulls only a missing image', async () => {
    const f = fakeEngine(false);
    const m = new ImageManager(f.engine);
    await m.ensure(svc('IfNotPresent'), log);
    await m.ensure(svc('IfNotPresent'), log);
    expect(f.pulls()).toBe(1);
  });

  it('Always re-pulls at most once per refresh window, whatever the reconcile rate', async () => {
    const f = fakeEngine(true);
    let now = 0;
    const m = new ImageManager(f.engine, 60_000, () => now);
    for (let i = 0; i < 10; i++) await m.ensure(svc('Always'), log);
    expect(f.pulls()).toBe(1);
    now = 60_000;
    expect(await m.ensure(svc('Always'), log)).toBe('sha256:2');
    expect(f.pulls()).toBe(2);
  });

  it('Never refuses a missing image with a terminal error and never pulls', async () => {
    const f = fakeEngine(false);
    await expect(new ImageManager(f.engine).ensure(svc('Never'), log)).rejects.toBeInstanceOf(TerminalError);
    expect(f.pulls()).toBe(0);
  });

  it('serialises concurrent work on one image', async () => {
    const f = fakeEngine(false);
    const m = new ImageManager(f.engine);
    await Promise.all([m.ensure(svc('IfNotPresent'), log), m.ensure(svc('IfNotPresent'), log), m.ensure(svc('IfNotPresent'), log)]);
    expect(f.pulls()).toBe(1);
  });
});
