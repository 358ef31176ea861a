import { z } from 'zod';
import { byteSize, stringMap } from './common.js';

/** Docker's rule for volume names ([a-zA-Z0-9][a-zA-Z0-9_.-]+). */
export const dockerVolumeName = z
  .string()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/, 'expected a Docker volume name: letters, digits, "_", "." or "-", starting with a letter or digit');

/** Named volumes are created when declared and never deleted by the agent: data is not its to drop. */
export const volumeSpec = z
  .strictObject({
    driver: z.enum(['local']).default('local').describe('The Docker volume driver; only local.'),
    labels: stringMap.default({}).describe('Extra labels on the Docker volume.'),
    size: byteSize
      .optional()
      .describe("The capacity to ask for where a volume has one (a PersistentVolumeClaim on export kubernetes); Docker's local driver ignores it."),
    external: z
      .boolean()
      .optional()
      .describe("A volume made outside the agent (compose's external: true): mounted by its real Docker name, never created, labelled or removed, only checked to exist."),
    name: dockerVolumeName.optional().describe("The external volume's real Docker name; default: metadata.name. Only with external: true."),
  })
  .refine((v) => v.name === undefined || v.external === true, { message: 'name is only for external volumes (external: true)', path: ['name'] })
  .default({ driver: 'local', labels: {} });

export type VolumeSpec = z.output<typeof volumeSpec>;
