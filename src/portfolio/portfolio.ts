/**
 * Positions per (account, strategy, symbol), cash per account, and P&L, all exact.
 *
 * A position keeps its signed cost basis (Σ signed notional of the open quantity) rather than an
 * average price, so that realized + unrealized P&L always equals the cash identity exactly:
 * realized − costBasis = Σ sells − Σ buys. The average price is derived for display.
 */
import { divRound, formatDecimal, mul, type Money, type Price, type Qty } from '../core/fixed.js';
import type { Side } from '../core/types.js';
import type { PortfolioSnapshot } from '../engine/snapshots/parts.js';

export interface Position {
  readonly key: string;
  readonly account: string;
  readonly strategyId: string | null;
  readonly symbol: string;
  /** signed: long > 0, short < 0 */
  quantity: Qty;
  /** signed notional of the open quantity */
  costBasis: Money;
  realizedPnl: Money;
  fees: Money;
  boughtQty: Qty;
  soldQty: Qty;
}

export interface PositionWire {
  account: string;
  strategyId: string | null;
  symbol: string;
  quantity: string;
  averagePrice: string | null;
  costBasis: string;
  realizedPnl: string;
  unrealizedPnl: string | null;
  markPrice: string | null;
  fees: string;
  boughtQuantity: string;
  soldQuantity: string;
}

export interface CashAccount {
  readonly account: string;
  readonly currency: string;
  readonly startingCash: Money;
  cash: Money;
}

export function positionKey(account: string, strategyId: string | null, symbol: string): string {
  return account + '|' + (strategyId ?? '') + '|' + symbol;
}

export function averagePrice(p: Position): Price | null {
  if (p.quantity === 0n) return null;
  const q = p.quantity < 0n ? -p.quantity : p.quantity;
  const c = p.costBasis < 0n ? -p.costBasis : p.costBasis;
  return divRound(c * 100_000_000n, q);
}

export function unrealizedPnl(p: Position, mark: Price): Money {
  return mul(p.quantity, mark) - p.costBasis;
}

export class Portfolio {
  readonly positions = new Map<string, Position>();
  readonly accounts = new Map<string, CashAccount>();
  /** net quantity per symbol across every account and strategy of the firm */
  readonly firmNet = new Map<string, Qty>();

  openAccount(account: string, currency: string, startingCash: Money): void {
    if (this.accounts.has(account)) return;
    this.accounts.set(account, { account, currency, startingCash, cash: startingCash });
  }

  position(account: string, strategyId: string | null, symbol: string): Position {
    const key = positionKey(account, strategyId, symbol);
    let p = this.positions.get(key);
    if (!p) {
      p = { key, account, strategyId, symbol, quantity: 0n, costBasis: 0n, realizedPnl: 0n, fees: 0n, boughtQty: 0n, soldQty: 0n };
      this.positions.set(key, p);
    }
    return p;
  }

  peek(account: string, strategyId: string | null, symbol: string): Position | undefined {
    return this.positions.get(positionKey(account, strategyId, symbol));
  }

  /** Books one fill. Returns the position after it. */
  applyFill(account: string, strategyId: string | null, symbol: string, side: Side, qty: Qty, price: Price, fee: Money): Position {
    const p = this.position(account, strategyId, symbol);
    const signedQty = side === 'buy' ? qty : -qty;
    const notional = mul(price, qty);
    const signedNotional = side === 'buy' ? notional : -notional;

    if (p.quantity === 0n || (p.quantity > 0n) === (signedQty > 0n)) {
      p.quantity += signedQty;
      p.costBasis += signedNotional;
    } else {
      const held = p.quantity < 0n ? -p.quantity : p.quantity;
      const closing = qty < held ? qty : held;
      const removedCost = divRound(p.costBasis * closing, held);
      const closingNotional = closing === qty ? signedNotional : side === 'buy' ? mul(price, closing) : -mul(price, closing);
      p.realizedPnl += -closingNotional - removedCost;
      p.costBasis -= removedCost;
      p.quantity += side === 'buy' ? closing : -closing;
      const rest = qty - closing;
      if (rest > 0n) {
        // the fill flips the position: the remainder opens a new one at the fill price
        p.quantity += side === 'buy' ? rest : -rest;
        p.costBasis += signedNotional - closingNotional;
      }
      if (p.quantity === 0n) p.costBasis = 0n;
    }
    p.fees += fee;
    if (side === 'buy') p.boughtQty += qty;
    else p.soldQty += qty;

    const acct = this.accounts.get(account);
    if (acct) acct.cash += -signedNotional - fee;
    this.firmNet.set(symbol, (this.firmNet.get(symbol) ?? 0n) + signedQty);
    return p;
  }

  toWire(p: Position, mark: Price | null): PositionWire {
    const avg = averagePrice(p);
    return {
      account: p.account,
      strategyId: p.strategyId,
      symbol: p.symbol,
      quantity: formatDecimal(p.quantity),
      averagePrice: avg === null ? null : formatDecimal(avg),
      costBasis: formatDecimal(p.costBasis),
      realizedPnl: formatDecimal(p.realizedPnl),
      unrealizedPnl: mark === null ? (p.quantity === 0n ? '0' : null) : formatDecimal(unrealizedPnl(p, mark)),
      markPrice: mark === null ? null : formatDecimal(mark),
      fees: formatDecimal(p.fees),
      boughtQuantity: formatDecimal(p.boughtQty),
      soldQuantity: formatDecimal(p.soldQty),
    };
  }

  /** JSON-safe copy of every position, cash account and firm net (src/engine/snapshots). */
  snapshot(): PortfolioSnapshot {
    const positions: PortfolioSnapshot['positions'] = [];
    for (const p of this.positions.values()) {
      positions.push([p.key, p.account, p.strategyId, p.symbol, String(p.quantity), String(p.costBasis), String(p.realizedPnl), String(p.fees), String(p.boughtQty), String(p.soldQty)]);
    }
    return {
      positions,
      accounts: [...this.accounts.values()].map((a) => [a.account, a.currency, String(a.startingCash), String(a.cash)]),
      firmNet: [...this.firmNet].map(([k, v]) => [k, String(v)]),
    };
  }

  restore(s: PortfolioSnapshot): void {
    this.positions.clear();
    this.accounts.clear();
    this.firmNet.clear();
    for (const [key, account, strategyId, symbol, q, c, r, f, b, sold] of s.positions) {
      this.positions.set(key, { key, account, strategyId, symbol, quantity: BigInt(q), costBasis: BigInt(c), realizedPnl: BigInt(r), fees: BigInt(f), boughtQty: BigInt(b), soldQty: BigInt(sold) });
    }
    for (const [account, currency, start, cash] of s.accounts) this.accounts.set(account, { account, currency, startingCash: BigInt(start), cash: BigInt(cash) });
    for (const [k, v] of s.firmNet) this.firmNet.set(k, BigInt(v));
  }
}
