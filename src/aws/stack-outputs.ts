import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';

export type StackOutputsResult = { ok: true; outputs: Record<string, string> } | { ok: false; reason: string };

export interface StackOutputsOptions {
  /** How long a successful answer is reused; outputs change only when the stack is updated. */
  ttlMs?: number;
  now?: () => number;
}

/**
 * The outputs of the bootstrap stack (DescribeStacks on one stack name), cached so that loading the
 * manifests on every change does not call CloudFormation each time. Failures are not cached: the
 * next load tries again.
 */
export class StackOutputs {
  private cached: { at: number; outputs: Record<string, string> } | undefined;
  private inflight: Promise<StackOutputsResult> | undefined;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly client: Pick<CloudFormationClient, 'send'> | undefined,
    readonly stackName: string | undefined,
    opts: StackOutputsOptions = {},
    /** Why the outputs cannot be had at all (AWS disabled), reported instead of calling. */
    private readonly unavailableReason?: string,
  ) {
    this.ttlMs = opts.ttlMs ?? 5 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** Never throws: a failure is a result with the reason, for the loader to report. */
  async get(): Promise<StackOutputsResult> {
    if (!this.client) return { ok: false, reason: this.unavailableReason ?? 'AWS is not available' };
    if (!this.stackName) return { ok: false, reason: 'no CloudFormation stack configured (aws.stackName)' };
    if (this.cached && this.now() - this.cached.at < this.ttlMs) return { ok: true, outputs: this.cached.outputs };
    this.inflight ??= this.fetch().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  /** Forget the cached outputs (e.g. after the operator updated the stack). */
  invalidate(): void {
    this.cached = undefined;
  }

  private async fetch(): Promise<StackOutputsResult> {
    const client = this.client as Pick<CloudFormationClient, 'send'>;
    try {
      const { DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
      const res = await client.send(new DescribeStacksCommand({ StackName: this.stackName }));
      const stack = res.Stacks?.[0];
      if (!stack) return { ok: false, reason: `stack ${this.stackName} not found` };
      const outputs: Record<string, string> = {};
      for (const o of stack.Outputs ?? []) if (o.OutputKey && o.OutputValue !== undefined) outputs[o.OutputKey] = o.OutputValue;
      this.cached = { at: this.now(), outputs };
      return { ok: true, outputs };
    } catch (err) {
      return { ok: false, reason: `cannot describe stack ${this.stackName}: ${(err as Error).message}` };
    }
  }
}
