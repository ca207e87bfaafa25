/** Strategy classes by the name used in configuration. */
import type { StrategyFactory } from './api.js';
import { MarketMaker } from './market-maker.js';
import { MomentumTaker } from './momentum-taker.js';

const registry = new Map<string, StrategyFactory>([
  ['market-maker', (id, p) => new MarketMaker(id, p)],
  ['momentum-taker', (id, p) => new MomentumTaker(id, p)],
]);

export function strategyClasses(): string[] {
  return [...registry.keys()];
}

export function registerStrategy(name: string, f: StrategyFactory): void {
  registry.set(name, f);
}

export function createStrategy(cls: string, id: string, params: Record<string, unknown>) {
  const f = registry.get(cls);
  if (!f) throw new Error(`strategies.${id}.class: unknown strategy class "${cls}" (known: ${strategyClasses().join(', ')})`);
  return f(id, params);
}
