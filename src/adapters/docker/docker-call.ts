/** What dockerode's errors carry: the HTTP status and the engine's JSON message. */
interface DockerHttpError {
  statusCode?: number;
  json?: { message?: string };
  message: string;
}

export const statusOf = (err: unknown): number | undefined => (err as DockerHttpError).statusCode;
const engineMessage = (err: unknown): string => (err as DockerHttpError).json?.message ?? (err as Error).message;

export interface CallOptions<T> {
  /**
   * HTTP statuses that mean the state we want is already there ("already stopped", "already gone"):
   * idempotent effects treat them as success and return `fallback`.
   */
  ok?: readonly number[];
  /** Also success when the engine's message matches (e.g. 403 "already exists in network"). */
  okWhen?: (status: number | undefined, message: string) => boolean;
  fallback?: T;
}

/**
 * The one place Docker errors are translated: a call either succeeds, counts as done (an idempotent
 * "already" status), or throws an Error naming the operation and the object, with the engine's own
 * message and the original error as its cause.
 */
export async function dockerCall<T>(op: string, fn: () => Promise<T>, opts: CallOptions<T> = {}): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const status = statusOf(err);
    if ((status !== undefined && opts.ok?.includes(status)) || opts.okWhen?.(status, engineMessage(err))) return opts.fallback as T;
    throw new Error(`docker ${op}: ${engineMessage(err)}`, { cause: err });
  }
}

export const labelFilter = (labels: Record<string, string>): string[] => Object.entries(labels).map(([k, v]) => `${k}=${v}`);
