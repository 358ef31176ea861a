import { describe, expect, it } from 'vitest';
import { dockerEndpointFrom, dockerodeOptions } from '../../src/adapters/docker/docker-host.js';
import { configFrom } from '../../src/config.js';

describe('DOCKER_HOST, as the docker CLI reads it', () => {
  it.each([
    [{}, { socketPath: '/var/run/docker.sock' }],
    [{ DOCKER_SOCKET: '/run/alt.sock' }, { socketPath: '/run/alt.sock' }],
    [{ DOCKER_HOST: 'unix:///run/user/1000/docker.sock', DOCKER_SOCKET: '/ignored' }, { socketPath: '/run/user/1000/docker.sock' }],
    [{ DOCKER_HOST: 'tcp://127.0.0.1:2375' }, { host: '127.0.0.1', port: 2375, tls: undefined }],
    [{ DOCKER_HOST: '127.0.0.1:2399' }, { host: '127.0.0.1', port: 2399, tls: undefined }],
    [{ DOCKER_HOST: 'tcp://docker.lan', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs' }, { host: 'docker.lan', port: 2376, tls: { certPath: '/certs' } }],
  ])('%j', (env, endpoint) => {
    expect(dockerEndpointFrom(env)).toEqual(endpoint);
  });

  it('refuses what it cannot honour rather than talking to another engine', () => {
    expect(() => dockerEndpointFrom({ DOCKER_HOST: 'ssh://me@host' })).toThrow(/DOCKER_HOST: "ssh:\/\/me@host": only unix:\/\/ and tcp:\/\/ engines are supported/);
  });

  it('gives dockerode plain http for tcp://, and the config protects the default socket then', () => {
    expect(dockerodeOptions({ host: 'h', port: 2375, tls: undefined })).toEqual({ host: 'h', port: 2375, protocol: 'http' });
    const config = configFrom({ manifestsDir: '.' }, { DOCKER_HOST: 'tcp://127.0.0.1:2375' });
    expect(config.docker).toEqual({ host: '127.0.0.1', port: 2375, tls: undefined });
    expect(config.dockerSocket).toBe('/var/run/docker.sock');
    expect(configFrom({ manifestsDir: '.' }, { DOCKER_HOST: 'unix:///srv/d.sock' }).dockerSocket).toBe('/srv/d.sock');
  });
});
