/**
 * The kernel snapshot document: everything the deterministic core needs to continue exactly as
 * it would have after the last input it reflects. Kernel.snapshotJson() writes it,
 * Kernel.restore() reads it; the snapshot file (store.ts) wraps it with a header and checksum.
 *
 * Version it when a shape changes: an old snapshot that cannot be read is not an error, recovery
 * simply falls back to an older one or to a full replay of the journal.
 */
import { formatDecimal } from '../../core/fixed.js';
import type { CalendarSpec } from '../../core/calendar.js';
import type { Instrument, InstrumentSpec } from '../../core/instruments.js';
import type { RiskSnapshot } from '../../risk/engine.js';
import type { ReconSnapshot } from '../../oms/recon/engine.js';
import type { KernelConfig } from '../kernel-config.js';
import type { GateSnapshot } from './gate.js';
import type { BarsSnapshot, KillSwitchSnapshot, MarketDataSnapshot, OmsSnapshot, PortfolioSnapshot, StrategySnap } from './parts.js';

export const KERNEL_SNAPSHOT_FORMAT = 'bulwark.kernel';
export const KERNEL_SNAPSHOT_VERSION = 1;

export interface InstrumentSnap {
  spec: InstrumentSpec;
  calendar: CalendarSpec;
}

export interface KernelSnapshotDoc {
  format: typeof KERNEL_SNAPSHOT_FORMAT;
  version: number;
  kernel: {
    /** the configuration of the last system.start (instruments, accounts and strategies of earlier starts are below) */
    config: KernelConfig;
    now: string;
    curSeq: number;
    lastInputSeq: number;
    inputsProcessed: number;
    massCancelVenues: string[];
    instruments: InstrumentSnap[];
  };
  strategies: StrategySnap[];
  portfolio: PortfolioSnapshot;
  md: MarketDataSnapshot;
  bars: BarsSnapshot;
  risk: RiskSnapshot;
  kill: KillSwitchSnapshot;
  gate: GateSnapshot;
  recon: ReconSnapshot;
  oms: OmsSnapshot;
}

/** An instrument back in its configuration form, with its calendar's spec. */
export function instrumentSnap(i: Instrument): InstrumentSnap {
  return {
    spec: {
      symbol: i.symbol,
      venue: i.venue,
      tickSize: formatDecimal(i.tickSize),
      lotSize: formatDecimal(i.lotSize),
      minQty: formatDecimal(i.minQty),
      maxQty: formatDecimal(i.maxQty),
      currency: i.currency,
      calendar: i.calendar.spec.id,
    },
    calendar: i.calendar.spec,
  };
}
