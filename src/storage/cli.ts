/**
 * `bulwark db migrate`, `bulwark db status`, `bulwark db prune-audit` and `bulwark db grants`.
 * Registered on the main program by registerDbCommands; errors are thrown, and the main program
 * prints them and exits 1 (a bad option value: commander's message naming the option, exit 2).
 */
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { Journal } from '../engine/journal.js';
import { loadConfig } from '../ops/config.js';
import { AUDIT_PRUNED_EVENT, auditRetentionState, pruneAuditLog } from './audit-prune.js';
import { grantProblems, grantStatements, grantTarget, roleNameProblem, withoutControlCharacters } from './grants.js';
import { migrate, migrationStatus, type MigrationStatus } from './migrate.js';
import { databaseSettings, describeTarget, type DatabaseSettings } from './settings.js';
import { openPglite, openPostgres, type SqlClient } from './sql-client.js';

export interface CliOutput {
  out: (text: string) => void;
}

interface DbCommandOptions {
  config?: string;
  dataDir?: string;
}

/** The schema version that partitions audit_log and adds bulwark_prune_audit_log. */
const AUDIT_PRUNE_VERSION = 5;

/** `--years`: a whole number of years, at least 1 (the SQL function refuses less too). */
export function parseYears(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1 || n > 100) throw new InvalidArgumentError('must be a whole number of years from 1 to 100');
  return n;
}

/** `--role`: a PostgreSQL role name (roleNameProblem). */
export function parseRole(v: string): string {
  const problem = roleNameProblem(v);
  if (problem !== undefined) throw new InvalidArgumentError(problem);
  return v;
}

/** The schema is this build's (no checksum or version problem), or the command stops here. */
function requireSchemaMatches(st: MigrationStatus): void {
  if (st.problems.length > 0) throw new Error(`database schema does not match this build (see bulwark db status): ${st.problems.join('; ')}`);
}

function settingsOf(opts: DbCommandOptions): { settings: DatabaseSettings; dataDir: string } {
  const env = { ...process.env };
  if (opts.dataDir !== undefined) env.BULWARK_DATA_DIR = opts.dataDir;
  const cfg = loadConfig({ ...(opts.config !== undefined ? { file: opts.config } : {}), env });
  return { settings: databaseSettings(cfg.database, cfg.dataDir), dataDir: cfg.dataDir };
}

async function open(s: DatabaseSettings): Promise<SqlClient> {
  return s.driver === 'pglite' ? openPglite(s.pgliteDir) : openPostgres(s.url!, 'bulwark-cli');
}

/**
 * The journal's last seq without opening it for writing: only the last segment is read. A torn
 * tail (the node is writing, or crashed mid-write) stops the count at the last complete record.
 */
export function journalLastSeq(journalDir: string): { lastSeq: number; note?: string } {
  if (!fs.existsSync(journalDir)) return { lastSeq: 0, note: 'no journal' };
  const segments = fs
    .readdirSync(journalDir)
    .filter((n) => /^\d{20}\.seg$/.test(n))
    .sort();
  if (segments.length === 0) return { lastSeq: 0 };
  const firstSeq = Number(segments[segments.length - 1]!.slice(0, 20));
  let lastSeq = firstSeq - 1;
  try {
    for (const e of Journal.frames(journalDir, { fromSeq: firstSeq, verify: false })) lastSeq = e.seq;
  } catch (e) {
    return { lastSeq, note: `stopped at an unreadable record: ${(e as Error).message}` };
  }
  return { lastSeq };
}

export function registerDbCommands(program: Command, io: CliOutput = { out: (t) => process.stdout.write(t) }): void {
  const db = program.command('db').description('the database: schema migrations and the journal projector');

  db.command('migrate')
    .description('apply pending schema migrations (the node also applies them at start)')
    .option('-c, --config <file>', 'YAML configuration file')
    .option('-d, --data-dir <dir>', 'data directory (the embedded database is <dir>/db)')
    .action(async (opts: DbCommandOptions) => {
      const { settings } = settingsOf(opts);
      const client = await open(settings);
      try {
        const applied = await migrate(client);
        const st = await migrationStatus(client);
        io.out(`database  ${describeTarget(settings)}\n`);
        io.out(applied.length === 0 ? 'migrations  up to date\n' : `migrations  applied ${applied.join(', ')}\n`);
        io.out(`schema version  ${st.applied.at(-1)?.version ?? 0}\n`);
      } finally {
        await client.close();
      }
    });

  db.command('status')
    .description('applied and pending migrations; projector position against the journal')
    .option('-c, --config <file>', 'YAML configuration file')
    .option('-d, --data-dir <dir>', 'data directory (the embedded database is <dir>/db)')
    .action(async (opts: DbCommandOptions) => {
      const { settings, dataDir } = settingsOf(opts);
      const client = await open(settings);
      try {
        const st = await migrationStatus(client);
        io.out(`database  ${describeTarget(settings)}\n`);
        for (const a of st.applied) io.out(`applied   ${a.version}  ${a.name}  (${a.appliedAt.toISOString()}, sha256 ${a.checksum.slice(0, 12)})\n`);
        for (const p of st.pending) io.out(`pending   ${p.version}  ${p.name}\n`);
        for (const p of st.problems) io.out(`PROBLEM   ${p}\n`);
        let projected = 0;
        if (st.applied.length > 0) {
          const r = await client.query<{ last_seq: string }>(`SELECT last_seq FROM projector_state WHERE name = 'journal'`);
          projected = Number(r.rows[0]?.last_seq ?? 0);
          const ts = await client.query<{ value: string }>(`SELECT value FROM db_settings WHERE key = 'timeseries'`).catch(() => ({ rows: [] as { value: string }[] }));
          if (ts.rows[0] !== undefined) io.out(`time series  ${ts.rows[0].value === 'native' ? 'native monthly partitions' : ts.rows[0].value}\n`);
        }
        const journal = journalLastSeq(resolve(join(dataDir, 'journal')));
        io.out(`projector last seq  ${projected}\n`);
        io.out(`journal last seq    ${journal.lastSeq}${journal.note !== undefined ? `  (${journal.note})` : ''}\n`);
        io.out(`lag                 ${Math.max(0, journal.lastSeq - projected)}\n`);
      } finally {
        await client.close();
      }
    });

  db.command('prune-audit')
    .description(
      'drop the monthly partitions of audit_log wholly older than --years whose records the WORM archive has confirmed ' +
        '(bulwark_prune_audit_log; never a DELETE); prints what it dropped. The node does the same daily, ' +
        'and journals every prune, those of this command too (system.note database.auditPruned).',
    )
    .option('--years <n>', 'keep this many years in the database (default: database.auditLogYears, 2)', parseYears)
    .option('-c, --config <file>', 'YAML configuration file')
    .option('-d, --data-dir <dir>', 'data directory (the embedded database is <dir>/db)')
    .action(async (opts: DbCommandOptions & { years?: number }) => {
      const { settings } = settingsOf(opts);
      const years = opts.years ?? settings.auditLogYears;
      const client = await open(settings);
      try {
        const st = await migrationStatus(client);
        requireSchemaMatches(st);
        if (!st.applied.some((a) => a.version === AUDIT_PRUNE_VERSION)) {
          throw new Error(
            `the database schema is at version ${st.applied.at(-1)?.version ?? 0}: audit_log is partitioned from version ${AUDIT_PRUNE_VERSION} on; run bulwark db migrate (or start the node) first`,
          );
        }
        const before = await auditRetentionState(client, years);
        io.out(`database  ${describeTarget(settings)}\n`);
        io.out(`keep      ${years} year${years === 1 ? '' : 's'}: partitions wholly before ${before.cutoff.toISOString()} may go\n`);
        io.out(
          before.sourceSeq === null
            ? 'archive   no confirmed WORM archive mark in the database yet (no audit.archived note projected): only empty partitions can go\n'
            : `archive   confirmed through seq ${before.archivedSeq} (audit.archived note at seq ${before.sourceSeq}, ${before.reportedAt?.toISOString() ?? '?'})\n`,
        );
        const dropped = await pruneAuditLog(client, years);
        for (const d of dropped) {
          io.out(`dropped   ${d.partition}  ${d.month.slice(0, 7)}  ${d.minSeq === null ? 'empty' : `seq ${d.minSeq}..${d.maxSeq}`}\n`);
        }
        if (dropped.length === 0) io.out('dropped   nothing\n');
        const after = await auditRetentionState(client, years);
        io.out(`audit_log starts at seq ${after.oldestSeq ?? '- (empty)'}, ${after.partitions} monthly partitions\n`);
        // recorded in audit_log_prunes only: the node's projector finds it there and has it journaled
        if (dropped.length > 0) {
          const what = dropped.length === 1 ? 'this prune' : 'these prunes';
          io.out(`journal   the node journals ${what} (system.note ${AUDIT_PRUNED_EVENT}) at its next start, or within the hour if it is running\n`);
        }
      } finally {
        await client.close();
      }
    });

  db.command('grants')
    .description(
      'print the SQL that gives --role exactly the privileges the node needs in this schema (--reader: read only, for ' +
        'dashboards and replicas), or run it with --apply. Run as the schema owner; the node then connects as --role ' +
        '(docs/operations.md, "Database roles"). PostgreSQL only.',
    )
    .requiredOption('--role <name>', 'the role to grant to (it owns nothing in the schema)', parseRole)
    .option('--reader', 'SELECT only (and USAGE on the schema)')
    .option('--apply', 'run the statements in one transaction instead of printing them')
    .option('-c, --config <file>', 'YAML configuration file')
    .option('-d, --data-dir <dir>', 'data directory')
    .action(async (opts: DbCommandOptions & { role: string; reader?: boolean; apply?: boolean }) => {
      const { settings } = settingsOf(opts);
      if (settings.driver !== 'postgres') {
        throw new Error('bulwark db grants is for a PostgreSQL server (database.url or DATABASE_URL): the embedded database has a single user');
      }
      const mode = opts.reader === true ? 'reader' : 'node';
      const apply = opts.apply === true;
      const client = await open(settings);
      try {
        const st = await migrationStatus(client);
        requireSchemaMatches(st);
        if (st.pending.length > 0) throw new Error(`migrations ${st.pending.map((m) => m.version).join(', ')} are pending: run bulwark db migrate as the schema owner first`);
        const target = await grantTarget(client, opts.role);
        const problems = grantProblems(target, opts.role, apply);
        if (problems.length > 0) throw new Error(`no grants: ${problems.join('; ')}`);
        const statements = grantStatements(opts.role, target.schema, mode);
        if (!apply) {
          // (a schema name may hold a newline: it would end the comment and start a statement)
          const schemaName = withoutControlCharacters(target.schema);
          io.out(`-- bulwark db grants: ${mode} privileges for role ${opts.role} in schema ${schemaName} (schema version ${st.applied.at(-1)?.version ?? 0})\n`);
          io.out(`BEGIN;\n${statements.map((x) => `${x};\n`).join('')}COMMIT;\n`);
          return;
        }
        await client.transaction(async (tx) => {
          for (const x of statements) await tx.query(x);
        });
        io.out(`database  ${describeTarget(settings)}\n`);
        io.out(`granted   ${mode} privileges to ${opts.role} in schema ${target.schema} (${statements.length} statements, as ${target.currentUser})\n`);
      } finally {
        await client.close();
      }
    });
}
