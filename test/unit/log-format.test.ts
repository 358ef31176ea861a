import { prettyFactory } from 'pino-pretty';
import { describe, expect, it } from 'vitest';
import { prettyOptions } from '../../src/log.js';

const event = JSON.stringify({ level: 40, time: Date.parse('2026-12-01T10:00:00Z'), name: 'certitrack-agent', key: 'Service/web', reason: 'exited with code 3', restarts: 2, msg: 'restarting exited container' }) + '\n';

describe('the log on a terminal', () => {
  it('is one line per event, fields included', () => {
    const line = prettyFactory(prettyOptions(false))(event);
    expect(line.trimEnd().split('\n')).toHaveLength(1);
    expect(line).toMatch(/WARN.*restarting exited container.*"key":"Service\/web".*"restarts":2/);
    expect(line).not.toMatch(/\x1b\[/);
  });

  it('is coloured only when colour is allowed', () => {
    const line = prettyFactory(prettyOptions(true))(event);
    expect(line).toMatch(/\x1b\[/);
  });
});
