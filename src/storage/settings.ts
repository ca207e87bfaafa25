/**
 * Which database the node projects into and how. One schema and one SQL dialect on two drivers:
 * embedded PGlite under `<dataDir>/db` by default, PostgreSQL (TimescaleDB where installed) when a
 * URL is configured (`database.url`, else DATABASE_URL, resolved by loadConfig).
 */
import { join, resolve } from 'node:path';

/**
 * Whether a connection string is a PostgreSQL URL (postgres:// or postgresql://; the host may be
 * empty for a socket given as ?host=). Anything else would reach the driver and fail later as a
 * misleading connection error ("getaddrinfo ENOTFOUND base" for "notaurl").
 */
export function isPostgresUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'postgres:' || u.protocol === 'postgresql:';
  } catch {
    return false;
  }
}

/** The error for a connection string that is not one (never repeating the value: it may hold a password). */
export const POSTGRES_URL_MESSAGE = 'must be a postgres://user@host:port/database URL';

export type DriverKind = 'pglite' | 'postgres';

export interface DatabaseSettings {
  driver: DriverKind;
  /** PGlite data directory (driver pglite). */
  pgliteDir: string;
  /** Primary connection string (driver postgres). */
  url: string | undefined;
  /** Read replica for dashboard reads; the primary when absent. */
  readUrl: string | undefined;
  retentionYears: number;
  /**
   * Years audit_log is kept queryable: older monthly partitions already in the WORM archive are
   * dropped daily (bulwark_prune_audit_log), and by `bulwark db prune-audit`.
   */
  auditLogYears: number;
  /** Most journal records applied in one transaction. */
  batchSize: number;
  /** Lag (records) above which health reports `lagging`. */
  lagThreshold: number;
  /** How long node.stop waits for the projector to reach the last journal record. */
  drainTimeoutMs: number;
  /** Monthly partitions kept created ahead of now (native partitioning only). */
  partitionMonthsAhead: number;
  /** application_name of the projector's connection: lets operators (and tests) find it. */
  applicationName: string;
}

/** The tuning both forms share, taken over from the config section as it is. */
type DatabaseTuning = Pick<DatabaseSettings, 'retentionYears' | 'auditLogYears' | 'batchSize' | 'lagThreshold' | 'drainTimeoutMs' | 'partitionMonthsAhead' | 'applicationName'>;

/** The config section as validated by src/ops/config.ts (every field defaulted there). */
export type DatabaseConfigSection = DatabaseTuning & {
  enabled: boolean;
  url?: string | undefined;
  readUrl?: string | undefined;
};

export const DATABASE_DEFAULTS: DatabaseConfigSection = {
  enabled: true,
  retentionYears: 7,
  auditLogYears: 2,
  batchSize: 5000,
  lagThreshold: 50_000,
  drainTimeoutMs: 30_000,
  partitionMonthsAhead: 3,
  applicationName: 'bulwark-projector',
};

export function databaseSettings(section: Partial<DatabaseConfigSection> | undefined, dataDir: string): DatabaseSettings {
  const s = { ...DATABASE_DEFAULTS, ...(section ?? {}) };
  const url = s.url !== undefined && s.url !== '' ? s.url : undefined;
  return {
    driver: url === undefined ? 'pglite' : 'postgres',
    pgliteDir: resolve(join(dataDir, 'db')),
    url,
    readUrl: s.readUrl !== undefined && s.readUrl !== '' ? s.readUrl : undefined,
    retentionYears: s.retentionYears,
    auditLogYears: s.auditLogYears,
    batchSize: s.batchSize,
    lagThreshold: s.lagThreshold,
    drainTimeoutMs: s.drainTimeoutMs,
    partitionMonthsAhead: s.partitionMonthsAhead,
    applicationName: s.applicationName,
  };
}

/** A connection string with the password masked, for logs and `db status`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable connection string)';
  }
}

export function describeTarget(s: DatabaseSettings): string {
  return s.driver === 'pglite' ? `PGlite ${s.pgliteDir}` : `PostgreSQL ${redactUrl(s.url!)}`;
}
