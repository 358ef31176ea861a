/** Exit codes scripts can rely on (terraform's -detailed-exitcode for plan; 128 + SIGINT for an interrupted apply). */
export const EXIT = { ok: 0, error: 1, changes: 2, interrupted: 130 } as const;
