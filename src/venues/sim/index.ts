/** The simulated exchange: matching engine, shared market with background agents, and the venue gateway. */
import type { InstrumentSpec } from '../../core/instruments.js';
import type { SimSymbolSpec } from './sim-market.js';

export {
  OrderBook,
  STP_POLICIES,
  type AcceptedEvent,
  type BookEvent,
  type BookRejectReason,
  type CancelReason,
  type CanceledEvent,
  type CancelRejectedEvent,
  type ExpiredEvent,
  type FillEvent,
  type LevelEvent,
  type OrderBookConfig,
  type OrderRequest,
  type RejectedEvent,
  type ReplacedEvent,
  type RestingOrder,
  type StpPolicy,
} from './order-book.js';
export {
  LiquidityAgent,
  NoiseAgent,
  SimMarket,
  agentRng,
  type AgentInstrument,
  type AgentPort,
  type HouseOrder,
  type LiquidityAgentConfig,
  type NoiseAgentConfig,
  type SimMarketOptions,
  type SimSymbolSpec,
} from './sim-market.js';
export { SimVenue, type SimVenueOptions, type VenueFaults } from './sim-venue.js';

export const DEFAULT_SIM_VENUES: readonly string[] = ['SIMX', 'SIMY'];

/** Starting fair values and volatilities (relative, per second) of the default paper-trading universe. */
export const DEFAULT_SIM_SYMBOLS: readonly Required<Omit<SimSymbolSpec, 'tickSize'>>[] = [
  { symbol: 'AAPL', fairValue: '227.50', volatilityPerSec: 0.0004 },
  { symbol: 'MSFT', fairValue: '415.20', volatilityPerSec: 0.0004 },
  { symbol: 'NVDA', fairValue: '138.75', volatilityPerSec: 0.0007 },
  { symbol: 'SPY', fairValue: '598.10', volatilityPerSec: 0.0002 },
  { symbol: 'TSLA', fairValue: '342.30', volatilityPerSec: 0.0008 },
];

export interface DefaultSimUniverse {
  /** every symbol listed on both SIMX and SIMY; tick 0.01, lot 1, USD, always open */
  instruments: InstrumentSpec[];
  /** symbol → starting fair value (decimal string) */
  fairValues: Record<string, string>;
  /** ready to pass to new SimMarket({ symbols, ... }) */
  symbols: SimSymbolSpec[];
}

export function defaultSimInstruments(): DefaultSimUniverse {
  const instruments: InstrumentSpec[] = [];
  for (const venue of DEFAULT_SIM_VENUES) {
    for (const s of DEFAULT_SIM_SYMBOLS) instruments.push({ symbol: s.symbol, venue, tickSize: '0.01', lotSize: '1', currency: 'USD' });
  }
  const fairValues: Record<string, string> = {};
  for (const s of DEFAULT_SIM_SYMBOLS) fairValues[s.symbol] = s.fairValue;
  return { instruments, fairValues, symbols: DEFAULT_SIM_SYMBOLS.map((s) => ({ ...s, tickSize: '0.01' })) };
}
