import { z } from 'zod';
import { stringMap } from './common.js';

/** Named volumes are created when declared and never deleted by the agent: data is not its to drop. */
export const volumeSpec = z
  .strictObject({
    driver: z.enum(['local']).default('local'),
    labels: stringMap.default({}),
  })
  .default({ driver: 'local', labels: {} });

export type VolumeSpec = z.output<typeof volumeSpec>;
