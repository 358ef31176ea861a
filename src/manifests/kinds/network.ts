import { z } from 'zod';
import { stringMap } from './common.js';

export const networkSpec = z
  .strictObject({
    driver: z.enum(['bridge']).default('bridge').describe('The Docker network driver; only bridge.'),
    internal: z.boolean().default(false).describe("true: no route outside the host (Docker's --internal)."),
    labels: stringMap.default({}).describe('Extra labels on the Docker network.'),
  })
  .default({ driver: 'bridge', internal: false, labels: {} });

export type NetworkSpec = z.output<typeof networkSpec>;
