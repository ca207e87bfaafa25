/**
 * The part of the configuration that shapes the deterministic core. It is journaled in every
 * system.start record, so a replay rebuilds the core exactly as it ran, whatever the config file
 * says today.
 */
import type { CalendarSpec } from '../core/calendar.js';
import type { InstrumentSpec } from '../core/instruments.js';
import type { RiskConfig } from '../risk/config.js';

export interface AccountSpec {
  id: string;
  currency: string;
  cash: string;
}

export interface StrategySpec {
  id: string;
  /** registered strategy class name, e.g. "market-maker" */
  class: string;
  account: string;
  traderId?: string;
  autoStart: boolean;
  params: Record<string, unknown>;
}

export interface KernelConfig {
  environment: string;
  timerIntervalMs: number;
  barIntervalMs: number;
  seed: number;
  calendars: CalendarSpec[];
  instruments: InstrumentSpec[];
  accounts: AccountSpec[];
  strategies: StrategySpec[];
  risk: RiskConfig;
  /** venue capabilities the core needs (mass cancel); absent → individual cancels */
  venues?: { id: string; supportsMassCancel: boolean }[];
  killSwitch?: { timeoutMs: number; maxRetries: number };
}
