import { readFileSync } from 'node:fs';

/**
 * Whether this host is an EC2 instance, from what the hypervisor exposes locally (no network):
 * Nitro instances report "Amazon EC2" as the DMI board vendor, Xen ones a hypervisor UUID starting
 * with "ec2". Off EC2 the agent then never sends a packet to the metadata address.
 */
export function looksLikeEc2(read: (path: string) => string | undefined = readQuietly): boolean {
  const vendor = read('/sys/devices/virtual/dmi/id/board_vendor')?.trim();
  if (vendor === 'Amazon EC2') return true;
  const uuid = read('/sys/hypervisor/uuid')?.trim().toLowerCase();
  return uuid?.startsWith('ec2') ?? false;
}

function readQuietly(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
