/**
 * Least-privilege database roles (docs/operations.md, "Database roles"). By default the node's
 * role owns the schema (it ran the migrations). A firm's DBA separates them: an owner role runs
 * `bulwark db migrate` and `bulwark db prune-audit`; the node connects as a role that owns
 * nothing and holds exactly the privileges below; dashboards and replicas read as a reader role.
 *
 * The privileges are policy, so they are written out here table by table rather than derived:
 * a test (test/storage/grants.test.ts) fails when a migration adds a table this map does not
 * decide, and runs the node's projector and the dashboard queries under exactly these grants on
 * PostgreSQL. Nothing here may UPDATE, DELETE or TRUNCATE audit_log or its prune records: for
 * the node's role that is refused by the privileges themselves, before any trigger.
 */
import type { SqlClient } from './sql-client.js';

export type TablePrivilege = 'SELECT' | 'INSERT' | 'UPDATE';

/** What the node needs on each table: the projector writes, the dashboard and status read. */
export const NODE_TABLE_PRIVILEGES: Readonly<Record<string, readonly TablePrivilege[]>> = {
  schema_migrations: ['SELECT'],
  db_settings: ['SELECT'],
  projector_state: ['SELECT', 'UPDATE'],
  // append-only: the journal's mirror and the prune records
  audit_log: ['SELECT', 'INSERT'],
  audit_log_prunes: ['SELECT'],
  audit_log_prunes_journaled: ['SELECT', 'INSERT'],
  audit_archive_state: ['SELECT', 'UPDATE'],
  // order_events, fills, positions, market_data and config_versions are written once per record
  orders: ['SELECT', 'INSERT', 'UPDATE'],
  order_events: ['SELECT', 'INSERT'],
  config_versions: ['SELECT', 'INSERT'],
  fills: ['SELECT', 'INSERT'],
  positions: ['SELECT', 'INSERT'],
  market_data: ['SELECT', 'INSERT'],
  // current state, upserted
  positions_current: ['SELECT', 'INSERT', 'UPDATE'],
  instruments: ['SELECT', 'INSERT', 'UPDATE'],
  strategies: ['SELECT', 'INSERT', 'UPDATE'],
  performance: ['SELECT', 'INSERT', 'UPDATE'],
};

/**
 * Functions the node calls. They create or drop partitions, so they run as their owner (SECURITY
 * DEFINER, migrations 5 and 7) and EXECUTE is not PUBLIC's.
 */
export const NODE_FUNCTIONS: readonly string[] = [
  'bulwark_ensure_partitions(timestamptz, timestamptz)',
  'bulwark_ensure_audit_partitions(timestamptz, timestamptz)',
  'bulwark_apply_retention(integer)',
];

/**
 * The owner's alone: dropping audit_log months is a separate, recorded act (`bulwark db
 * prune-audit`); the node's daily attempt is then logged as left to the owner.
 */
export const OWNER_ONLY_FUNCTIONS: readonly string[] = ['bulwark_prune_audit_log(integer)'];

export type GrantMode = 'node' | 'reader';

/** A PostgreSQL identifier, double-quoted (so any name, any case, is taken literally). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `s` with each control character (U+0000–U+001F, U+007F) replaced by '?'. */
export function withoutControlCharacters(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c < 0x20 || c === 0x7f ? '?' : s[i];
  }
  return out;
}

/** A role name as PostgreSQL accepts one: 1 to 63 bytes, no NUL. Returns the problem, if any. */
export function roleNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (withoutControlCharacters(name) !== name) return 'must not contain control characters (NUL, newline, ...)';
  if (Buffer.byteLength(name, 'utf8') > 63) return 'must be at most 63 bytes (PostgreSQL truncates longer names)';
  if (/^pg_/i.test(name)) return 'must not start with pg_ (reserved for PostgreSQL)';
  if (name.toLowerCase() === 'public') return 'must not be PUBLIC (the privileges are for one role)';
  return undefined;
}

/**
 * The statements that leave `role` with exactly the privileges of `mode` in `schema`: what it
 * held on the schema's tables and functions is revoked first, so running them again, or after
 * an upgrade that changed the map, converges. `reader`: USAGE and SELECT only.
 */
export function grantStatements(role: string, schema: string, mode: GrantMode): string[] {
  const problem = roleNameProblem(role);
  if (problem !== undefined) throw new RangeError(`role ${problem}`);
  const r = quoteIdent(role);
  const s = quoteIdent(schema);
  const out = [
    `REVOKE ALL ON ALL TABLES IN SCHEMA ${s} FROM ${r}`,
    `REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ${s} FROM ${r}`,
    `REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${s} FROM ${r}`,
    `GRANT USAGE ON SCHEMA ${s} TO ${r}`,
  ];
  for (const [table, privileges] of Object.entries(NODE_TABLE_PRIVILEGES)) {
    const granted = mode === 'reader' ? ['SELECT'] : privileges;
    out.push(`GRANT ${granted.join(', ')} ON TABLE ${s}.${quoteIdent(table)} TO ${r}`);
  }
  if (mode === 'node') for (const f of NODE_FUNCTIONS) out.push(`GRANT EXECUTE ON FUNCTION ${s}.${qualifiedFunction(f)} TO ${r}`);
  return out;
}

/** `name(args)` with the name quoted (the argument types are SQL type names, left as they are). */
function qualifiedFunction(signature: string): string {
  const open = signature.indexOf('(');
  return quoteIdent(signature.slice(0, open)) + signature.slice(open);
}

export interface GrantTarget {
  schema: string;
  /** The role that owns audit_log (the schema's owner role, which ran the migrations). */
  owner: string;
  currentUser: string;
  roleExists: boolean;
  /** Tables of the schema (partitions excluded) that NODE_TABLE_PRIVILEGES does not decide. */
  undecided: string[];
  /** Tables NODE_TABLE_PRIVILEGES names that the schema lacks (it is not migrated to this build). */
  missing: string[];
}

/** The schema's base tables (partitions and temporary tables excluded), by name. */
export async function schemaTables(db: SqlClient): Promise<string[]> {
  const r = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c
       WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
         AND c.relkind IN ('r', 'p') AND NOT c.relispartition
       ORDER BY 1`,
  );
  return r.rows.map((x) => x.name);
}

/** What the grants would apply to, and why they could not (see grantProblems). */
export async function grantTarget(db: SqlClient, role: string): Promise<GrantTarget> {
  const who = await db.query<{ schema: string | null; current_user: string; owner: string | null; role_exists: boolean }>(
    `SELECT current_schema() AS schema, current_user,
            (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass('audit_log')) AS owner,
            EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS role_exists`,
    [role],
  );
  const w = who.rows[0]!;
  const tables = await schemaTables(db);
  const known = new Set(Object.keys(NODE_TABLE_PRIVILEGES));
  const have = new Set(tables);
  return {
    schema: w.schema ?? '',
    owner: w.owner ?? '',
    currentUser: w.current_user,
    roleExists: w.role_exists,
    undecided: tables.filter((t) => !known.has(t)),
    missing: [...known].filter((t) => !have.has(t)),
  };
}

/**
 * Why the grants must not be given to `role`; empty when they may. A role that does not exist yet
 * is a problem only when applying (the printed script may be read before the role is created).
 */
export function grantProblems(t: GrantTarget, role: string, apply: boolean): string[] {
  const problems: string[] = [];
  if (t.schema === '') problems.push('the connection has no current schema (check its search_path)');
  if (t.missing.length > 0) problems.push(`the schema lacks ${t.missing.join(', ')}: run bulwark db migrate as the schema owner first`);
  if (t.undecided.length > 0) problems.push(`tables this build does not decide privileges for: ${t.undecided.join(', ')}`);
  if (apply && !t.roleExists) problems.push(`role ${role} does not exist (CREATE ROLE ${quoteIdent(role)} LOGIN PASSWORD '…' first)`);
  if (t.owner !== '' && t.owner === role) problems.push(`role ${role} owns the schema's tables: the node's role must be another role`);
  return problems;
}
