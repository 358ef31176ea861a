import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { S3Destination } from '../../src/adapters/s3-destination.js';
import { ListingError } from '../../src/backup/destination.js';

const s3 = mockClient(S3Client);
afterEach(() => s3.reset());

const dest = (): S3Destination => new S3Destination(new S3Client({ region: 'us-east-1' }), { bucket: 'b' });
const obj = (Key: string) => ({ Key, Size: 1, LastModified: new Date('2026-01-01T00:00:00Z') });

describe('S3Destination listing', () => {
  it('follows continuation tokens to the end', async () => {
    s3.on(ListObjectsV2Command, { ContinuationToken: undefined }).resolves({ Contents: [obj('p/1'), obj('p/2')], IsTruncated: true, NextContinuationToken: 't1' });
    s3.on(ListObjectsV2Command, { ContinuationToken: 't1' }).resolves({ Contents: [obj('p/3')], IsTruncated: false });
    expect((await dest().list('p/')).map((o) => o.key)).toEqual(['p/1', 'p/2', 'p/3']);
  });

  it('throws when a truncated page carries no token instead of returning what it has', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [obj('p/1')], IsTruncated: true });
    await expect(dest().list('p/')).rejects.toBeInstanceOf(ListingError);
  });

  it('throws when a later page fails', async () => {
    s3.on(ListObjectsV2Command, { ContinuationToken: undefined }).resolves({ Contents: [obj('p/1')], IsTruncated: true, NextContinuationToken: 't1' });
    s3.on(ListObjectsV2Command, { ContinuationToken: 't1' }).rejects(new Error('connection reset'));
    await expect(dest().list('p/')).rejects.toThrow(/connection reset/);
  });

  it('ignores keys outside the prefix a misbehaving endpoint returns', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [obj('p/1'), obj('other/2')], IsTruncated: false });
    expect((await dest().list('p/')).map((o) => o.key)).toEqual(['p/1']);
  });
});

describe('S3Destination delete', () => {
  it('batches 1000 keys a request and treats NoSuchKey as done', async () => {
    s3.on(DeleteObjectsCommand).resolves({ Errors: [{ Key: 'k0', Code: 'NoSuchKey' }] });
    await dest().delete(Array.from({ length: 2500 }, (_, i) => `k${i}`));
    const calls = s3.commandCalls(DeleteObjectsCommand);
    expect(calls.map((c) => c.args[0].input.Delete?.Objects?.length)).toEqual([1000, 1000, 500]);
  });

  it('throws when S3 reports a key it could not delete', async () => {
    s3.on(DeleteObjectsCommand).resolves({ Errors: [{ Key: 'k1', Code: 'AccessDenied', Message: 'denied' }] });
    await expect(dest().delete(['k1'])).rejects.toThrow(/AccessDenied/);
  });
});
