import type { Readable } from 'node:stream';
import { DumpVersionTap } from './pg-dump-header.js';
import { openPostgresTools, PG_PORT, type PostgresSourceSpec, type PostgresTools } from './postgres-client.js';
import type { PreparedSource, SourceContext } from './sources.js';

/** Runs `fn` with the source's tools open, and closes them (a one-off container goes) whatever happens. */
async function withTools<T>(pg: PostgresSourceSpec, ctx: SourceContext, timeoutMs: number, fn: (tools: PostgresTools) => Promise<T>): Promise<T> {
  const tools = await openPostgresTools(pg, ctx, timeoutMs);
  try {
    return await fn(tools);
  } finally {
    await tools.close();
  }
}

/**
 * A database, dumped with pg_dump's custom format and restored with pg_restore, wherever the
 * tools run (postgres-client.ts). The custom format deflates each table itself (zlib, off the
 * agent's CPU when the tools run in a container), so gzipping it again would gain nothing: it is
 * stored as produced.
 */
export function postgresSource(pg: PostgresSourceSpec, name: string, ctx: SourceContext, timeoutMs: number): PreparedSource {
  let version: string | undefined;
  const port = pg.port ?? PG_PORT;
  const where = pg.service !== undefined ? { service: pg.service } : { host: pg.host, port };
  return {
    name,
    info: { type: 'postgres', ...where, database: pg.database, user: pg.user, format: pg.format, compressLevel: pg.compressLevel },
    compression: 'none',
    contentType: 'application/vnd.postgresql.custom-dump',
    warnings: [],
    toolVersion: () => version,
    produce: (out, signal) =>
      withTools(pg, ctx, timeoutMs, async (tools) => {
        // The version is in the archive's header: no second exec beside every dump.
        const tap = new DumpVersionTap(out);
        const res = await tools.run('pg_dump', ['-Fc', `-Z${pg.compressLevel}`, '-d', pg.database], { stdout: tap, signal });
        version = tap.version;
        if (res.exitCode !== 0) throw new Error(`pg_dump exited with code ${res.exitCode}: ${res.outputTail.trim() || '(no output)'}`);
      }),
    target: `database ${pg.database} (${pg.service !== undefined ? `service ${pg.service}` : `${pg.host}:${port}`})`,
    selectors: [`postgres:${pg.database}`],
    restore: (body, signal) => withTools(pg, ctx, timeoutMs, (tools) => restoreDatabase(tools, pg, body, signal)),
  };
}

/**
 * pg_restore --clean --if-exists --no-owner --single-transaction, fed on stdin: all or nothing
 * inside the database. A dropped database is created again first (empty, owned by the source's
 * user), so pg_restore has somewhere to go.
 */
async function restoreDatabase(tools: PostgresTools, pg: PostgresSourceSpec, body: Readable, signal: AbortSignal): Promise<void> {
  const literal = `'${pg.database.replace(/'/g, "''")}'`;
  const exists = await tools.run('psql', ['-d', 'postgres', '-tAc', `SELECT 1 FROM pg_database WHERE datname = ${literal}`]);
  if (exists.exitCode !== 0) throw new Error(`checking database ${pg.database} on ${tools.where}: psql exited with code ${exists.exitCode}: ${exists.outputTail.trim()}`);
  if (exists.outputTail.trim() !== '1') {
    const created = await tools.run('createdb', ['-O', pg.user, pg.database]);
    if (created.exitCode !== 0) throw new Error(`creating database ${pg.database}: createdb exited with code ${created.exitCode}: ${created.outputTail.trim()}`);
  }
  const res = await tools.run('pg_restore', ['--clean', '--if-exists', '--no-owner', '--single-transaction', '-d', pg.database], { stdin: body, signal });
  if (res.exitCode !== 0) throw new Error(`pg_restore into ${pg.database} exited with code ${res.exitCode}: ${res.outputTail.trim()}`);
}
