/** A `.catch` for file calls where "not there" is an answer, not a failure: ENOENT gives undefined, anything else rethrows. */
export function ignoreMissing(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT') return undefined;
  throw err;
}
