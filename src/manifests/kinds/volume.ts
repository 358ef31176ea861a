import { z } from 'zod';
import { byteSize, stringMap } from './common.js';

/** Named volumes are created when declared and never deleted by the agent: data is not its to drop. */
export const volumeSpec = z
  .strictObject({
    driver: z.enum(['local']).default('local'),
    labels: stringMap.default({}),
    /** The capacity to ask for where a volume has one (a Kubernetes PersistentVolumeClaim on export); Docker's local driver ignores it. */
    size: byteSize.optional(),
  })
  .default({ driver: 'local', labels: {} });

export type VolumeSpec = z.output<typeof volumeSpec>;
