import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type ServerSideEncryption,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { type Readable, Transform } from 'node:stream';
import { type BackupDestination, ListingError, ObjectNotFoundError, type PutOptions, type StoredObject } from '../backup/destination.js';

export interface S3ClientOptions {
  region?: string;
  /** An S3-compatible endpoint (MinIO, an emulator); omit for AWS. */
  endpoint?: string;
  forcePathStyle?: boolean;
}

/**
 * Builds the client the S3 destination needs. Checksums are computed only when an operation
 * requires them: the SDK's default CRC32 on every request is rejected by emulators and adds nothing
 * here, since every backup object carries its own sha256 in the manifest.
 */
export function createS3Client(opts: S3ClientOptions): S3Client {
  return new S3Client({
    region: opts.region ?? 'us-east-1',
    endpoint: opts.endpoint,
    forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export interface S3DestinationOptions {
  bucket: string;
  serverSideEncryption?: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
  storageClass?: string;
  /** Bytes per multipart part; memory held is about partSize * queueSize. */
  partSize?: number;
  queueSize?: number;
}

const DELETE_BATCH = 1000;
/** Errors an emulator answers for AbortMultipartUpload it does not implement: the parts stay, nothing else goes wrong. */
const ABORT_UNSUPPORTED = new Set(['NotImplemented', 'MethodNotAllowed', 'NoSuchUpload']);

interface AwsError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  message: string;
}

const errorCode = (err: unknown): string | undefined => (err as AwsError).name ?? (err as AwsError).Code;

/**
 * Backup objects in an S3 bucket, streamed with lib-storage's multipart Upload (memory stays at
 * partSize * queueSize whatever the object size). A failed upload is aborted so no object and no
 * paid-for parts remain; S3 only makes an object visible on CompleteMultipartUpload (or a whole
 * PutObject), so a failure never leaves a complete-looking object.
 */
export class S3Destination implements BackupDestination {
  readonly description: string;

  constructor(
    private readonly client: S3Client,
    private readonly opts: S3DestinationOptions,
    /** Told when a failed multipart upload could not be aborted (parts left for a lifecycle rule). */
    private readonly warn: (message: string) => void = () => undefined,
  ) {
    this.description = `s3://${opts.bucket}`;
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<{ bytes: number }> {
    let bytes = 0;
    const counted = body.pipe(
      new Transform({
        transform(chunk: Buffer, _enc, done) {
          bytes += chunk.length;
          done(null, chunk);
        },
      }),
    );
    body.once('error', (err) => counted.destroy(err));
    const upload = new Upload({
      client: this.client,
      partSize: this.opts.partSize ?? 8 * 1024 * 1024,
      queueSize: this.opts.queueSize ?? 2,
      // We abort ourselves so that an emulator without AbortMultipartUpload cannot mask the real error.
      leavePartsOnError: true,
      params: {
        Bucket: this.opts.bucket,
        Key: key,
        Body: counted,
        ContentType: opts.contentType ?? 'application/octet-stream',
        ServerSideEncryption: this.opts.serverSideEncryption as ServerSideEncryption | undefined,
        SSEKMSKeyId: this.opts.serverSideEncryption === 'aws:kms' ? this.opts.kmsKeyId : undefined,
        StorageClass: this.opts.storageClass as StorageClass | undefined,
      },
    });
    const onAbort = (): void => void upload.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
      return { bytes };
    } catch (err) {
      counted.destroy();
      body.destroy();
      await this.abortMultipart(key, upload.uploadId);
      throw new Error(`upload ${key} to ${this.description}: ${(err as Error).message}`, { cause: err });
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async abortMultipart(key: string, uploadId: string | undefined): Promise<void> {
    if (!uploadId) return;
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.opts.bucket, Key: key, UploadId: uploadId }));
    } catch (err) {
      const code = errorCode(err);
      this.warn(
        ABORT_UNSUPPORTED.has(code ?? '')
          ? `the endpoint does not support AbortMultipartUpload (${code}); parts of ${key} remain until a lifecycle rule removes them`
          : `could not abort the multipart upload of ${key}: ${(err as Error).message}`,
      );
    }
  }

  async get(key: string): Promise<Readable> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: key }));
      if (!res.Body) throw new Error('empty response body');
      return res.Body as Readable;
    } catch (err) {
      if (errorCode(err) === 'NoSuchKey' || (err as AwsError).$metadata?.httpStatusCode === 404) throw new ObjectNotFoundError(key);
      throw new Error(`download ${key} from ${this.description}: ${(err as Error).message}`, { cause: err });
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let token: string | undefined;
    try {
      do {
        const res = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of res.Contents ?? []) {
          if (!o.Key || !o.Key.startsWith(prefix)) continue;
          out.push({ key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) });
        }
        if (res.IsTruncated && !res.NextContinuationToken) {
          throw new ListingError('the listing is truncated but carries no continuation token');
        }
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      if (err instanceof ListingError) throw err;
      throw new ListingError(`list ${this.description}/${prefix}: ${(err as Error).message}`, { cause: err });
    }
    return out;
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      let res;
      try {
        res = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.opts.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
        );
      } catch (err) {
        throw new Error(`delete ${batch.length} objects from ${this.description}: ${(err as Error).message}`, { cause: err });
      }
      const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        const first = failed[0];
        throw new Error(`delete from ${this.description}: ${failed.length} objects failed (first: ${first?.Key}: ${first?.Code} ${first?.Message ?? ''})`);
      }
    }
  }
}
