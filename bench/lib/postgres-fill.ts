/**
 * Grows a benchmark database (user `app`, database `appdb`) until it holds at least `bytes`; resolves
 * with its size. Rows of about 110 bytes on disk whose md5 text compresses about 2:1, like real text
 * columns. The database only grows, so several sizes come from one fill.
 */
export async function fillDatabase(psql: (sql: string) => Promise<string>, bytes: number): Promise<number> {
  await psql('CREATE UNLOGGED TABLE IF NOT EXISTS bulk (id bigint, a text, b text)');
  for (;;) {
    const size = Number(await psql("SELECT pg_database_size('appdb')"));
    if (size >= bytes) return size;
    const from = Number(await psql('SELECT coalesce(max(id), 0) FROM bulk')) + 1;
    const rows = Math.min(2_000_000, Math.ceil((bytes - size) / 110) + 1000);
    await psql(`INSERT INTO bulk SELECT g, md5(g::text), md5((g * 31)::text) || md5((g * 17)::text) FROM generate_series(${from}, ${from + rows - 1}) g`);
  }
}
