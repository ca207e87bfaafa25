/**
 * Pruning of the database's audit_log: whole monthly partitions are dropped once every row in
 * them is older than the retention (database.auditLogYears, 2 years by default) and the WORM
 * archive has confirmed every record in them (audit_archive_state, projected from the archiver's
 * `audit.archived` notes). Never a DELETE: the rows' refusal triggers stay. The SQL function
 * bulwark_prune_audit_log (migration 5) decides and drops; the projector runs it daily and
 * `bulwark db prune-audit` by hand.
 *
 * Each drop is recorded in audit_log_prunes, and then journaled: the projector finds the prunes
 * the journal has not been told of (unjournaledPrunes: no row in audit_log_prunes_journaled,
 * migration 6) at every maintenance run and hands them to the node, which journals them as a
 * system.note `database.auditPruned`; projecting that note marks them journaled.
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

/** The event of the system.note that journals prunes (detail: { prunes: JournaledPrune[] }). */
export const AUDIT_PRUNED_EVENT = 'database.auditPruned';

/** A row of audit_log_prunes, as the `database.auditPruned` note carries it. */
export interface JournaledPrune {
  id: number;
  partition: string;
  /** First day of the month (YYYY-MM-DD). */
  month: string;
  /** null: the partition was empty. */
  minSeq: number | null;
  maxSeq: number | null;
  retentionYears: number;
  /** The WORM archive's confirmed mark the prune was checked against. */
  archivedSeq: number;
  /** ISO. */
  prunedAt: string;
  /** The database role (session_user) that pruned. */
  prunedBy: string;
}

/**
 * The prunes the journal has not been told of yet (audit_log_prunes rows without an
 * audit_log_prunes_journaled row), oldest id first. The table is small (at most a row per month
 * of audit_log ever dropped), and so is what it returns once the notes are projected.
 */
export async function unjournaledPrunes(db: SqlClient): Promise<JournaledPrune[]> {
  const r = await db.query<{
    id: string;
    partition_name: string;
    month: string;
    min_seq: string | null;
    max_seq: string | null;
    retention_years: number;
    archived_seq: string;
    pruned_at: Date | string;
    pruned_by: string;
  }>(
    `SELECT p.id::text AS id, p.partition_name, to_char(p.month, 'YYYY-MM-DD') AS month, p.min_seq::text AS min_seq, p.max_seq::text AS max_seq,
            p.retention_years, p.archived_seq::text AS archived_seq, p.pruned_at, p.pruned_by
       FROM audit_log_prunes p
      WHERE NOT EXISTS (SELECT 1 FROM audit_log_prunes_journaled j WHERE j.prune_id = p.id)
      ORDER BY p.id`,
  );
  return r.rows.map((x) => ({
    id: Number(x.id),
    partition: x.partition_name,
    month: x.month,
    minSeq: x.min_seq === null ? null : Number(x.min_seq),
    maxSeq: x.max_seq === null ? null : Number(x.max_seq),
    retentionYears: Number(x.retention_years),
    archivedSeq: Number(x.archived_seq),
    prunedAt: new Date(x.pruned_at).toISOString(),
    prunedBy: x.pruned_by,
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
