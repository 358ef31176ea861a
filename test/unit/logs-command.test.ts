import { describe, expect, it } from 'vitest';
import { prefixFor, sinceTime } from '../../src/cli/logs-command.js';

describe('logs', () => {
  const now = new Date('2026-12-01T10:00:00Z');

  it('takes --since as a duration back from now or as a time', () => {
    expect(sinceTime('10m', now).toISOString()).toBe('2026-12-01T09:50:00.000Z');
    expect(sinceTime('2026-11-30T08:00:00Z', now).toISOString()).toBe('2026-11-30T08:00:00.000Z');
    expect(() => sinceTime('yesterday', now)).toThrow(/neither a duration .* nor an RFC 3339 time/);
  });

  it("prefixes the serving container's lines with the service, another container's with its own name", () => {
    expect(prefixFor('backend', 'prod-backend', 'prod')).toBe('backend');
    expect(prefixFor('backend', 'prod-backend-3f9a2c1e', 'prod')).toBe('backend-3f9a2c1e');
  });
});
