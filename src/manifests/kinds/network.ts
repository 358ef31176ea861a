import { z } from 'zod';
import { stringMap } from './common.js';

export const networkSpec = z
  .strictObject({
    driver: z.enum(['bridge']).default('bridge'),
    /** No route outside the host (Docker's --internal). */
    internal: z.boolean().default(false),
    labels: stringMap.default({}),
  })
  .default({ driver: 'bridge', internal: false, labels: {} });

export type NetworkSpec = z.output<typeof networkSpec>;
