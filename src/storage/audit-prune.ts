/**
 * Pruning of the database's audit_log: whole monthly partitions are dropped once every row in
 * them is older than the retention (database.auditLogYears, 2 years by default) and the WORM
 * archive has confirmed every record in them (audit_archive_state, projected from the archiver's
 * `audit.archived` notes). Never a DELETE: the rows' refusal triggers stay. The SQL function
 * bulwark_prune_audit_log (migration 5) decides and drops; the projector runs it daily and
 * `bulwark db prune-audit` by hand.
 */
import type { SqlClient } from './sql-client.js';

/** A monthly partition of audit_log that bulwark_prune_audit_log dropped. */
export interface PrunedAuditPartition {
  partition: string;
  /** First day of the month (YYYY-MM-DD). */
  month: string;
  /** null: the partition was empty. */
  minSeq: number | null;
  maxSeq: number | null;
}

/**
 * Runs bulwark_prune_audit_log(years) in its own transaction: drops the monthly partitions of
 * audit_log wholly older than `years` and at or below the WORM archive's confirmed mark (see
 * src/storage/migrations.ts, migration 5). Returns what it dropped, oldest first.
 */
export async function pruneAuditLog(db: SqlClient, years: number): Promise<PrunedAuditPartition[]> {
  const r = await db.transaction((tx) =>
    tx.query<{ partition_name: string; month: string; min_seq: string | null; max_seq: string | null }>(
      `SELECT partition_name, to_char(month, 'YYYY-MM-DD') AS month, min_seq::text AS min_seq, max_seq::text AS max_seq
         FROM bulwark_prune_audit_log($1::int) ORDER BY month`,
      [years],
    ),
  );
  return r.rows.map((x) => ({
    partition: x.partition_name,
    month: x.month,
    minSeq: x.min_seq === null ? null : Number(x.min_seq),
    maxSeq: x.max_seq === null ? null : Number(x.max_seq),
  }));
}

export interface AuditRetentionState {
  /** The WORM archive's confirmed mark as projected (0: no audit.archived note with one yet). */
  archivedSeq: number;
  /** The journal record (an audit.archived note) that reported it. */
  sourceSeq: number | null;
  reportedAt: Date | null;
  /** Lowest seq in audit_log (null: empty): rows below it were pruned or never projected. */
  oldestSeq: number | null;
  partitions: number;
  /** now() - years: partitions wholly before it are old enough to drop. */
  cutoff: Date;
}

export async function auditRetentionState(db: SqlClient, years: number): Promise<AuditRetentionState> {
  const r = await db.query<{ archived_seq: string; source_seq: string | null; reported_at: Date | null; oldest: string | null; partitions: string; cutoff: Date }>(
    `SELECT s.archived_seq::text AS archived_seq, s.source_seq::text AS source_seq, s.reported_at,
            (SELECT min(seq) FROM audit_log)::text AS oldest,
            (SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit_log'::regclass)::text AS partitions,
            now() - make_interval(years => $1::int) AS cutoff
       FROM audit_archive_state s WHERE s.archive = 'worm'`,
    [years],
  );
  const x = r.rows[0];
  if (x === undefined) throw new Error('audit_archive_state has no row for the WORM archive');
  return {
    archivedSeq: Number(x.archived_seq),
    sourceSeq: x.source_seq === null ? null : Number(x.source_seq),
    reportedAt: x.reported_at === null ? null : new Date(x.reported_at),
    oldestSeq: x.oldest === null ? null : Number(x.oldest),
    partitions: Number(x.partitions),
    cutoff: new Date(x.cutoff),
  };
}
