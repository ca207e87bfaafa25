/**
 * Applies the embedded migrations in order, each in its own transaction together with its
 * schema_migrations row, under an advisory lock (two nodes starting at once do not race). Refuses
 * to go on when an applied migration's checksum differs from the code's, or when the database has
 * versions this build does not know: the schema is not what this code was written against.
 */
import { MIGRATIONS, migrationChecksum, type Migration } from './migrations.js';
import type { SqlClient, SqlSession } from './sql-client.js';

export class MigrationChecksumError extends Error {
  constructor(readonly problems: string[]) {
    super(`database schema does not match this build, refusing to start: ${problems.join('; ')}`);
    this.name = 'MigrationChecksumError';
  }
}

/**
 * Migrations are pending and this connection's role may not apply them (PostgreSQL's
 * insufficient_privilege): the node runs as a least-privilege role and the schema's owner has not
 * run `bulwark db migrate` for this build yet.
 */
export class MigrationPrivilegeError extends Error {
  constructor(
    readonly pending: number[],
    cause: unknown,
  ) {
    super(
      `database schema needs migration ${pending.join(', ')} and this role may not apply it (${(cause as Error).message}): ` +
        'run `bulwark db migrate` as the schema owner (docs/operations.md, "Database roles")',
    );
    this.name = 'MigrationPrivilegeError';
  }
}

/** PostgreSQL's insufficient_privilege (both drivers give the SQLSTATE as `code`). */
export function isPrivilegeError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === '42501';
}

export interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
  appliedAt: Date;
}

export interface MigrationStatus {
  applied: AppliedMigration[];
  pending: Migration[];
  /** Checksum or version problems (empty when the schema matches this build). */
  problems: string[];
}

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  checksum   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/** Per schema, so test runs in separate schemas of one database do not wait on each other. */
const LOCK_SQL = `SELECT pg_advisory_xact_lock(hashtext('bulwark.migrate:' || current_schema()))`;

async function tableExists(s: SqlSession, name: string): Promise<boolean> {
  const r = await s.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name]);
  return r.rows[0]?.t !== null && r.rows[0]?.t !== undefined;
}

async function readApplied(s: SqlSession): Promise<AppliedMigration[]> {
  const r = await s.query<{ version: number; name: string; checksum: string; applied_at: Date }>(
    'SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version',
  );
  return r.rows.map((x) => ({ version: Number(x.version), name: x.name, checksum: x.checksum, appliedAt: x.applied_at }));
}

function problemsOf(applied: AppliedMigration[], migrations: readonly Migration[]): string[] {
  const problems: string[] = [];
  const known = new Map(migrations.map((m) => [m.version, m]));
  for (const a of applied) {
    const m = known.get(a.version);
    if (m === undefined) {
      problems.push(`version ${a.version} (${a.name}) is applied but unknown to this build (the database is newer)`);
    } else if (migrationChecksum(m) !== a.checksum) {
      problems.push(`version ${a.version} (${a.name}) was applied with checksum ${a.checksum.slice(0, 12)}… but this build has ${migrationChecksum(m).slice(0, 12)}…`);
    }
  }
  return problems;
}

/** Read-only: what is applied, what is pending, and whether the applied ones still match. */
export async function migrationStatus(s: SqlSession, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationStatus> {
  const applied = (await tableExists(s, 'schema_migrations')) ? await readApplied(s) : [];
  const done = new Set(applied.map((a) => a.version));
  return { applied, pending: migrations.filter((m) => !done.has(m.version)), problems: problemsOf(applied, migrations) };
}

/** Applies what is pending; returns the versions applied now. Throws MigrationChecksumError. */
export async function migrate(db: SqlClient, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  // Nothing pending: read only, so a role that may not create anything (docs/operations.md,
  // "Database roles") starts against a schema its owner has migrated.
  const before = await migrationStatus(db, sorted);
  if (before.problems.length > 0) throw new MigrationChecksumError(before.problems);
  if (before.pending.length === 0) return [];
  try {
    return await applyPending(db, sorted);
  } catch (e) {
    if (isPrivilegeError(e)) throw new MigrationPrivilegeError(before.pending.map((m) => m.version), e);
    throw e;
  }
}

async function applyPending(db: SqlClient, sorted: readonly Migration[]): Promise<number[]> {
  await db.transaction(async (tx) => {
    await tx.query(LOCK_SQL);
    await tx.exec(CREATE_TABLE);
  });
  const appliedNow: number[] = [];
  for (const m of sorted) {
    const done = await db.transaction(async (tx) => {
      await tx.query(LOCK_SQL);
      const applied = await readApplied(tx);
      const problems = problemsOf(applied, sorted);
      if (problems.length > 0) throw new MigrationChecksumError(problems);
      if (applied.some((a) => a.version === m.version)) return false;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, migrationChecksum(m)]);
      return true;
    });
    if (done) appliedNow.push(m.version);
  }
  // The checksums of everything applied, earlier and now, must still match.
  const status = await migrationStatus(db, sorted);
  if (status.problems.length > 0) throw new MigrationChecksumError(status.problems);
  return appliedNow;
}
