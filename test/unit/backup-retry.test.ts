import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY, nextRetry, retryDue, type RetryState } from '../../src/backup/retry.js';

const now = new Date('2026-03-02T02:10:00Z');

describe('backup retries', () => {
  it('double from 1 min up to 1 h, counting on from the previous attempt', () => {
    let retry: RetryState | undefined;
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      retry = nextRetry(retry, { step: 'upload', error: 'upload failed: connection reset' }, now, DEFAULT_RETRY_POLICY);
      delays.push((Date.parse(retry.nextAt) - now.getTime()) / 60_000);
    }
    expect(delays).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60]);
    expect(retry).toMatchObject({ attempt: 9, step: 'upload', error: 'upload failed: connection reset' });
  });

  it('remember the slot that failed, also across retries that carry none, and keep the error short', () => {
    const first = nextRetry(undefined, { step: 'dump', error: 'x'.repeat(2000), scheduledFor: new Date('2026-03-02T02:00:00Z') }, now, { baseMs: 1000, maxMs: 10_000 });
    expect(first).toEqual({ attempt: 1, nextAt: '2026-03-02T02:10:01.000Z', slot: '2026-03-02T02:00:00.000Z', step: 'dump', error: 'x'.repeat(500) });
    expect(nextRetry(first, { step: 'manifest', error: 'e' }, now, { baseMs: 1000, maxMs: 10_000 })).toMatchObject({ attempt: 2, slot: '2026-03-02T02:00:00.000Z', step: 'manifest' });
  });

  it('are due from their time on', () => {
    const retry = nextRetry(undefined, { step: 'dump', error: '' }, now, DEFAULT_RETRY_POLICY);
    expect(retryDue(retry, new Date(now.getTime() + 59_999))).toBe(false);
    expect(retryDue(retry, new Date(now.getTime() + 60_000))).toBe(true);
  });
});
