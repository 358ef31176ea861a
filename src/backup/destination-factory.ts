import type { S3Client } from '@aws-sdk/client-s3';
import { LocalDestination } from '../adapters/local-destination.js';
import type { AwsClientConfig } from '../aws/context.js';
import type { BackupSpec } from '../manifests/kinds/backup.js';
import type { Resource } from '../manifests/resource.js';
import type { BackupDestination } from './destination.js';
import { LazyDestination } from './lazy-destination.js';
import { hostPath } from './sources.js';

/** Where a Backup's objects go, and the key prefix they go under there. */
export interface DestinationOf {
  destination: BackupDestination;
  prefix: string;
}

/** Builds (or reuses) the destination a Backup's spec names. Tests wrap the real one to inject faults. */
export type DestinationFactory = (res: Resource<BackupSpec>) => DestinationOf;

export interface DestinationFactoryOptions {
  /** Where a Backup without a destination keeps its backups. */
  localDir: string;
  /**
   * What every S3 client starts from: the AWS context's region and endpoint (so AWS_ENDPOINT_URL_S3
   * and aws.endpoints.S3 apply as for every other AWS client). A spec's own region and endpoint win.
   */
  s3: AwsClientConfig;
  /** Told when a failed multipart upload could not be aborted. */
  warn?: (backup: string, message: string) => void;
}

/** The destination factory built once in main.ts; S3 clients are shared per region, endpoint and addressing style. */
export function destinationFactory(opts: DestinationFactoryOptions): DestinationFactory {
  const clients = new Map<string, S3Client>();
  return (res) => {
    const d = res.spec.destination;
    if (!d) return { destination: new LocalDestination(opts.localDir), prefix: '' };
    if ('local' in d) return { destination: new LocalDestination(hostPath(d.local.path, res.source.dir)), prefix: '' };
    const s3 = d.s3;
    const destination = new LazyDestination(`s3://${s3.bucket}`, async () => {
      const { createS3Client, S3Destination } = await import('../adapters/s3-destination.js');
      const region = s3.region ?? opts.s3.region;
      const endpoint = s3.endpoint ?? opts.s3.endpoint;
      const key = `${region}|${endpoint ?? ''}|${s3.forcePathStyle}`;
      let client = clients.get(key);
      if (!client) clients.set(key, (client = createS3Client({ region, ...(endpoint ? { endpoint } : {}), forcePathStyle: s3.forcePathStyle })));
      return new S3Destination(
        client,
        { bucket: s3.bucket, serverSideEncryption: s3.serverSideEncryption, ...(s3.kmsKeyId ? { kmsKeyId: s3.kmsKeyId } : {}), ...(s3.storageClass ? { storageClass: s3.storageClass } : {}) },
        (m) => opts.warn?.(res.name, m),
      );
    });
    return { destination, prefix: s3.prefix };
  };
}
