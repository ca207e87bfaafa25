import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mul, parseDecimal } from '../../src/core/fixed.js';
import { averagePrice, Portfolio, unrealizedPnl } from '../../src/portfolio/portfolio.js';

const d = parseDecimal;

describe('portfolio', () => {
  it('books average price, realized P&L on reduction and flips', () => {
    const p = new Portfolio();
    p.openAccount('A', 'USD', d('100000'));
    p.applyFill('A', 's', 'X', 'buy', d('10'), d('100'), 0n);
    p.applyFill('A', 's', 'X', 'buy', d('10'), d('110'), 0n);
    let pos = p.peek('A', 's', 'X')!;
    expect(averagePrice(pos)).toBe(d('105'));
    p.applyFill('A', 's', 'X', 'sell', d('5'), d('120'), d('1'));
    pos = p.peek('A', 's', 'X')!;
    expect(pos.quantity).toBe(d('15'));
    expect(pos.realizedPnl).toBe(d('75'));
    expect(pos.fees).toBe(d('1'));
    // sell 25 at 100: closes 15 (realized (100−105)×15 = −75), opens a 10 short at 100
    p.applyFill('A', 's', 'X', 'sell', d('25'), d('100'), 0n);
    pos = p.peek('A', 's', 'X')!;
    expect(pos.quantity).toBe(-d('10'));
    expect(pos.realizedPnl).toBe(0n);
    expect(averagePrice(pos)).toBe(d('100'));
    expect(unrealizedPnl(pos, d('90'))).toBe(d('100'));
    expect(p.accounts.get('A')!.cash).toBe(d('100000') - d('2100') + d('600') - d('1') + d('2500'));
  });

  it('positions equal the sum of fills, and P&L equals the cash identity (property)', () => {
    const fill = fc.record({
      side: fc.constantFrom('buy' as const, 'sell' as const),
      qty: fc.integer({ min: 1, max: 1000 }),
      px: fc.integer({ min: 1, max: 1_000_000 }),
      fee: fc.integer({ min: -50, max: 500 }),
      strat: fc.constantFrom('s1', 's2'),
      sym: fc.constantFrom('X', 'Y'),
    });
    fc.assert(
      fc.property(fc.array(fill, { maxLength: 200 }), fc.integer({ min: 1, max: 2_000_000 }), (fills, markCents) => {
        const p = new Portfolio();
        const start = d('1000000');
        p.openAccount('A', 'USD', start);
        const net = new Map<string, bigint>();
        let flows = 0n;
        for (const f of fills) {
          const qty = BigInt(f.qty) * 100_000_000n;
          const px = BigInt(f.px) * 1_000_000n; // cents
          const fee = BigInt(f.fee) * 1_000_000n;
          p.applyFill('A', f.strat, f.sym, f.side, qty, px, fee);
          const k = f.strat + f.sym;
          net.set(k, (net.get(k) ?? 0n) + (f.side === 'buy' ? qty : -qty));
          flows += (f.side === 'buy' ? -mul(px, qty) : mul(px, qty)) - fee;
        }
        const mark = BigInt(markCents) * 1_000_000n;
        let pnl = 0n;
        let marketValue = 0n;
        for (const pos of p.positions.values()) {
          expect(pos.quantity).toBe(net.get(pos.strategyId! + pos.symbol) ?? 0n);
          pnl += pos.realizedPnl + unrealizedPnl(pos, mark) - pos.fees;
          marketValue += mul(pos.quantity, mark);
        }
        const cash = p.accounts.get('A')!.cash;
        expect(cash).toBe(start + flows);
        // realized + unrealized − fees = change in equity, exactly
        expect(pnl).toBe(cash + marketValue - start);
      }),
    );
  });
});
