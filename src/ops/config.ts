/**
 * Node configuration: embedded defaults (a whole paper-trading firm), an optional YAML file, and
 * environment variables on top. Validated with zod; an invalid value stops the start with the path
 * of the field and the reason, before anything is opened.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { buildCalendars, buildInstrument, type InstrumentSpec } from '../core/instruments.js';
import type { KernelConfig } from '../engine/kernel-config.js';
import { DEFAULT_RISK_CONFIG, riskConfigSchema } from '../risk/config.js';
import { AUDIT_DEFAULTS, auditConfigSchema } from '../audit/config.js';
import { isPostgresUrl, POSTGRES_URL_MESSAGE } from '../storage/settings.js';
import { createStrategy } from '../strategies/registry.js';

const dec = z.string().regex(/^-?\d{1,20}(\.\d{1,8})?$/, 'must be a decimal string with at most 8 decimals');
const posDec = z.string().regex(/^\d{1,20}(\.\d{1,8})?$/, 'must be a non-negative decimal string with at most 8 decimals');
const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 characters A-Z a-z 0-9 . _ -');

const calendarSchema = z
  .object({
    id: z.string().min(1),
    timezone: z.string().min(1),
    weekdays: z.array(z.number().int().min(1).max(7)),
    sessions: z.array(z.object({ open: z.string(), close: z.string() }).strict()).min(1),
    holidays: z.array(z.string()).optional(),
    halfDays: z.record(z.string(), z.string()).optional(),
  })
  .strict();

const simSymbolSchema = z
  .object({
    symbol: z.string().min(1),
    fairValue: posDec,
    volatilityPerSec: z.number().positive().max(0.1).optional(),
    tickSize: posDec.default('0.01'),
    lotSize: posDec.default('1'),
    currency: z.string().default('USD'),
    calendar: z.string().optional(),
  })
  .strict();

const venueSchema = z
  .object({
    id: z.string().regex(/^[A-Z0-9][A-Z0-9_-]{0,15}$/, 'must be 1-16 characters A-Z 0-9 _ -'),
    type: z.literal('sim'),
    makerBps: dec.default('-0.2'),
    takerBps: dec.default('0.3'),
    latencyMs: z.number().min(0).max(10_000).default(1),
    /** listed symbols; all sim symbols when absent */
    symbols: z.array(z.string()).optional(),
    stp: z.enum(['cancelResting', 'cancelIncoming', 'none']).default('cancelResting'),
    supportsMassCancel: z.boolean().default(true),
    /** fault injection for paper trading and recovery drills (lost, duplicated, late, reordered reports) */
    faults: z
      .object({
        dropReportProb: z.number().min(0).max(1).optional(),
        duplicateReportProb: z.number().min(0).max(1).optional(),
        delayReportProb: z.number().min(0).max(1).optional(),
        delayMs: z.number().min(0).max(600_000).optional(),
        reorderReportProb: z.number().min(0).max(1).optional(),
        reorderMaxHoldMs: z.number().min(0).max(600_000).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const strategySchema = z
  .object({
    id,
    class: z.string().min(1),
    account: id,
    traderId: id.optional(),
    autoStart: z.boolean().default(true),
    params: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

/** A PostgreSQL connection URL (isPostgresUrl); the message names the variable it may come from. */
function postgresUrl(envName: string) {
  return z.string().refine(isPostgresUrl, `${POSTGRES_URL_MESSAGE} (set in the file or by ${envName})`);
}

export const nodeConfigSchema = z
  .object({
    environment: z.enum(['dev', 'staging', 'prod']).default('dev'),
    nodeId: id.default('bulwark-1'),
    dataDir: z.string().min(1).default('./data'),
    api: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8080 }),
    journal: z
      .object({
        fsync: z.boolean().default(true),
        segmentMiB: z.number().int().min(1).max(4096).default(64),
      })
      .strict()
      .default({ fsync: true, segmentMiB: 64 }),
    timerIntervalMs: z.number().int().min(10).max(60_000).default(100),
    barIntervalMs: z.number().int().min(100).max(86_400_000).default(1000),
    seed: z.number().int().nonnegative().default(1),
    shutdownTimeoutMs: z.number().int().min(100).max(120_000).default(5000),
    calendars: z.array(calendarSchema).default([]),
    accounts: z
      .array(z.object({ id, currency: z.string().regex(/^[A-Z]{3,5}$/), cash: posDec }).strict())
      .min(1)
      .default([{ id: 'FIRM-1', currency: 'USD', cash: '10000000' }]),
    sim: z
      .object({
        seed: z.number().int().nonnegative().default(7),
        agentIntervalMs: z.number().int().min(5).max(60_000).default(50),
        /** sim venues keep their own state under <dataDir>/venues/<ID>/ and restore it at start (docs/recovery.md) */
        persistState: z.boolean().default(true),
        persistFsync: z.boolean().default(false),
        symbols: z.array(simSymbolSchema).min(1),
      })
      .strict(),
    venues: z.array(venueSchema).min(1),
    strategies: z.array(strategySchema).default([]),
    risk: riskConfigSchema.default(DEFAULT_RISK_CONFIG),
    /** Tamper-evident audit trail: checkpoint cadence, signing key, WORM archive (src/audit). */
    audit: auditConfigSchema.default(AUDIT_DEFAULTS),
    /** Queryable projection of the journal (src/storage): embedded PGlite unless a URL is set. */
    database: z
      .object({
        enabled: z.boolean().default(true),
        /** PostgreSQL connection string; else env DATABASE_URL; else embedded PGlite in <dataDir>/db */
        url: postgresUrl('DATABASE_URL').optional(),
        /** read replica for dashboard queries; else env DATABASE_READ_URL; else the primary */
        readUrl: postgresUrl('DATABASE_READ_URL').optional(),
        retentionYears: z.number().int().min(1).max(100).default(7),
        /** audit_log partitions older than this, and already in the WORM archive, are dropped daily */
        auditLogYears: z.number().int().min(1).max(100).default(2),
        batchSize: z.number().int().min(1).max(100_000).default(5000),
        lagThreshold: z.number().int().min(1).default(50_000),
        drainTimeoutMs: z.number().int().min(0).max(600_000).default(30_000),
        partitionMonthsAhead: z.number().int().min(1).max(36).default(3),
        applicationName: z.string().min(1).max(63).default('bulwark-projector'),
      })
      .strict()
      .prefault({}),
    /** Snapshots of the core under <dataDir>/snapshots/ (docs/recovery.md). */
    snapshots: z
      .object({
        enabled: z.boolean().default(true),
        intervalMs: z.number().int().min(1000).max(5000).default(1000),
        keep: z.number().int().min(1).max(1000).default(10),
      })
      .strict()
      .prefault({}),
    /** After a restart: how long new orders wait for the venues' answers about orders in flight. */
    recovery: z
      .object({
        gateTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
      })
      .strict()
      .prefault({}),
    /** Reconciliation with the venues (docs/recovery.md). */
    reconciliation: z
      .object({
        enabled: z.boolean().default(true),
        intervalMs: z.number().int().min(1000).max(86_400_000).default(300_000),
        /** full run once a day at this UTC time */
        endOfDay: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a UTC time HH:MM').default('21:00'),
        autoCorrectMaxQty: posDec.default('100'),
        unknownOrderPolicy: z.enum(['cancel', 'alert']).default('cancel'),
        stuckAfterMs: z.number().int().min(100).max(86_400_000).default(30_000),
        /** how long a venue has to answer before the run records it as unavailable */
        venueTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
        /** reconcile right after a restart (the recovery gate waits for it) */
        onStart: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    killSwitch: z
      .object({
        timeoutMs: z.number().int().min(10).max(60_000).default(2000),
        maxRetries: z.number().int().min(0).max(100).default(5),
      })
      .strict()
      .default({ timeoutMs: 2000, maxRetries: 5 }),
  })
  .strict();

export type NodeConfig = z.infer<typeof nodeConfigSchema>;
export type VenueConfig = z.infer<typeof venueSchema>;

export const DEFAULT_CONFIG_INPUT = {
  sim: {
    symbols: [
      { symbol: 'AAPL', fairValue: '227.50', volatilityPerSec: 0.0004 },
      { symbol: 'MSFT', fairValue: '415.20', volatilityPerSec: 0.0004 },
      { symbol: 'NVDA', fairValue: '138.75', volatilityPerSec: 0.0007 },
      { symbol: 'SPY', fairValue: '598.10', volatilityPerSec: 0.0002 },
      { symbol: 'TSLA', fairValue: '342.30', volatilityPerSec: 0.0008 },
    ],
  },
  venues: [
    { id: 'SIMX', type: 'sim' },
    { id: 'SIMY', type: 'sim', makerBps: '-0.1', takerBps: '0.25' },
  ],
  // The paper firm's limits: the firm-wide defaults plus per-strategy inventory limits tighter than
  // the market makers' own targets, so the controls visibly bite (POSITION_LIMIT_* rejections in the
  // journal) as inventory builds up, as they would for a real desk.
  risk: {
    ...DEFAULT_RISK_CONFIG,
    rules: [
      ...DEFAULT_RISK_CONFIG.rules,
      { scope: 'strategy', id: 'mm-simx', limits: { maxLongPosition: '60', maxShortPosition: '60' } },
      { scope: 'strategy', id: 'mm-simy', limits: { maxLongPosition: '45', maxShortPosition: '45' } },
    ],
  },
  strategies: [
    { id: 'mm-simx', class: 'market-maker', account: 'FIRM-1', traderId: 'dev-trader', params: { venue: 'SIMX', symbols: ['AAPL', 'MSFT', 'SPY'], quantity: '20', maxPosition: '400' } },
    { id: 'mm-simy', class: 'market-maker', account: 'FIRM-1', traderId: 'dev-trader', params: { venue: 'SIMY', symbols: ['NVDA', 'TSLA', 'AAPL'], quantity: '15', maxPosition: '300' } },
    { id: 'mom-simy', class: 'momentum-taker', account: 'FIRM-1', params: { venue: 'SIMY', symbols: ['NVDA', 'TSLA', 'MSFT'], quantity: '10', maxPosition: '200' } },
    { id: 'mom-simx', class: 'momentum-taker', account: 'FIRM-1', params: { venue: 'SIMX', symbols: ['SPY', 'AAPL'], quantity: '10', maxPosition: '200' } },
  ],
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function formatIssue(i: z.core.$ZodIssue): string {
  const path = i.path.length ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(root)';
  return `${path}: ${i.message}`;
}

/**
 * A node of simulated venues only, with zero latency and no strategies, database or venue
 * persistence (the venues stand in for remote exchanges: their own disk is not our latency): the
 * configuration of the benchmarks and of tests that drive the core directly. `venues` gives each
 * venue's id and whether it offers mass cancel; `extra` is merged over the rest.
 */
export function simOnlyConfig(dataDir: string, venues: readonly { id: string; supportsMassCancel: boolean }[], extra: Record<string, unknown> = {}): NodeConfig {
  return loadConfig({
    env: {},
    overrides: {
      dataDir,
      strategies: [],
      sim: { symbols: DEFAULT_CONFIG_INPUT.sim.symbols, persistState: false },
      database: { enabled: false },
      venues: venues.map((v) => ({ id: v.id, type: 'sim', latencyMs: 0, supportsMassCancel: v.supportsMassCancel })),
      ...extra,
    },
  });
}

/** Merges embedded defaults, the YAML file and the environment; validates everything. */
export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Record<string, unknown> } = {}): NodeConfig {
  const env = opts.env ?? process.env;
  let fromFile: Record<string, unknown> = {};
  const file = opts.file ?? env.BULWARK_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`config file ${file}: ${(e as Error).message}`);
    }
    try {
      const parsed = parseYaml(text) as unknown;
      if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) throw new Error('the top level must be a mapping');
      fromFile = (parsed ?? {}) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`config file ${file}: ${(e as Error).message}`);
    }
  }
  const merged: Record<string, unknown> = { ...DEFAULT_CONFIG_INPUT, ...fromFile, ...(opts.overrides ?? {}) };
  const api = { ...((merged.api as Record<string, unknown>) ?? {}) };
  if (env.BULWARK_PORT !== undefined) {
    const port = Number(env.BULWARK_PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`BULWARK_PORT: "${env.BULWARK_PORT}" is not a port number 0-65535`);
    api.port = port;
  }
  if (env.BULWARK_HOST !== undefined) api.host = env.BULWARK_HOST;
  merged.api = api;
  if (env.BULWARK_DATA_DIR !== undefined) merged.dataDir = env.BULWARK_DATA_DIR;
  if (env.BULWARK_ENV !== undefined) merged.environment = env.BULWARK_ENV;
  if (env.BULWARK_FSYNC !== undefined) merged.journal = { ...((merged.journal as object) ?? {}), fsync: env.BULWARK_FSYNC !== '0' && env.BULWARK_FSYNC !== 'false' };
  // the config file's database.url / readUrl win; the environment fills them in when absent
  const database = { ...((merged.database as Record<string, unknown>) ?? {}) };
  if (database.url === undefined && env.DATABASE_URL) database.url = env.DATABASE_URL;
  if (database.readUrl === undefined && env.DATABASE_READ_URL) database.readUrl = env.DATABASE_READ_URL;
  merged.database = database;

  const r = nodeConfigSchema.safeParse(merged);
  if (!r.success) throw new ConfigError('invalid configuration:\n  ' + r.error.issues.map(formatIssue).join('\n  '));
  const cfg = r.data;
  // cross-field checks that a schema cannot express
  const kc = kernelConfigOf(cfg);
  const calendars = (() => {
    try {
      return buildCalendars(kc.calendars);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  })();
  kc.instruments.forEach((spec, i) => {
    try {
      buildInstrument(spec, calendars, `instruments[${i}]`);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  });
  const accountIds = new Set(cfg.accounts.map((a) => a.id));
  const seen = new Set<string>();
  cfg.strategies.forEach((s, i) => {
    if (seen.has(s.id)) throw new ConfigError(`strategies[${i}].id: "${s.id}" is used twice`);
    seen.add(s.id);
    if (!accountIds.has(s.account)) throw new ConfigError(`strategies[${i}].account: unknown account "${s.account}"`);
    try {
      createStrategy(s.class, s.id, s.params);
    } catch (e) {
      throw new ConfigError(`strategies[${i}]: ${(e as Error).message}`);
    }
  });
  const venueIds = new Set<string>();
  cfg.venues.forEach((v, i) => {
    if (venueIds.has(v.id)) throw new ConfigError(`venues[${i}].id: "${v.id}" is used twice`);
    venueIds.add(v.id);
    for (const s of v.symbols ?? []) if (!cfg.sim.symbols.some((x) => x.symbol === s)) throw new ConfigError(`venues[${i}].symbols: "${s}" is not a sim symbol`);
  });
  return cfg;
}

export function instrumentsOf(cfg: NodeConfig): InstrumentSpec[] {
  const out: InstrumentSpec[] = [];
  for (const v of cfg.venues) {
    for (const s of cfg.sim.symbols) {
      if (v.symbols && !v.symbols.includes(s.symbol)) continue;
      out.push({ symbol: s.symbol, venue: v.id, tickSize: s.tickSize, lotSize: s.lotSize, currency: s.currency, ...(s.calendar ? { calendar: s.calendar } : {}) });
    }
  }
  return out;
}

export function kernelConfigOf(cfg: NodeConfig): KernelConfig {
  return {
    environment: cfg.environment,
    timerIntervalMs: cfg.timerIntervalMs,
    barIntervalMs: cfg.barIntervalMs,
    seed: cfg.seed,
    calendars: cfg.calendars,
    instruments: instrumentsOf(cfg),
    accounts: cfg.accounts,
    strategies: cfg.strategies.map((s) => ({ id: s.id, class: s.class, account: s.account, ...(s.traderId ? { traderId: s.traderId } : {}), autoStart: s.autoStart, params: s.params })),
    risk: cfg.risk,
    venues: cfg.venues.map((v) => ({ id: v.id, supportsMassCancel: v.supportsMassCancel })),
    killSwitch: cfg.killSwitch,
  };
}
