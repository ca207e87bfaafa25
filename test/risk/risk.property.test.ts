/**
 * No sequence of orders, replaces, partial fills and cancels in flight can take a position or the
 * use of credit past its limit: the projection counts every open order (and the larger side of a
 * pending replace) until the venue has answered.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mul } from '../../src/core/fixed.js';
import { isOpen } from '../../src/oms/order-state.js';
import { KernelHarness, kernelConfig, OPEN_RISK } from '../helpers.js';

const LONG = 100n * 100_000_000n;
const SHORT = 80n * 100_000_000n;

type Op =
  | { k: 'new'; side: 'buy' | 'sell'; qty: number; px: number }
  | { k: 'ack'; i: number }
  | { k: 'fill'; i: number; frac: number }
  | { k: 'cancel'; i: number }
  | { k: 'confirmCancel'; i: number }
  | { k: 'replace'; i: number; qty: number }
  | { k: 'confirmReplace'; i: number }
  | { k: 'rejectReplace'; i: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('new' as const), side: fc.constantFrom('buy' as const, 'sell' as const), qty: fc.integer({ min: 1, max: 60 }), px: fc.integer({ min: 95, max: 105 }) }),
  fc.record({ k: fc.constant('ack' as const), i: fc.nat() }),
  fc.record({ k: fc.constant('fill' as const), i: fc.nat(), frac: fc.double({ min: 0.01, max: 1, noNaN: true }) }),
  fc.record({ k: fc.constant('cancel' as const), i: fc.nat() }),
  fc.record({ k: fc.constant('confirmCancel' as const), i: fc.nat() }),
  fc.record({ k: fc.constant('replace' as const), i: fc.nat(), qty: fc.integer({ min: 1, max: 80 }) }),
  fc.record({ k: fc.constant('confirmReplace' as const), i: fc.nat() }),
  fc.record({ k: fc.constant('rejectReplace' as const), i: fc.nat() }),
);

describe('risk invariants (property)', () => {
  it('position and buying power never pass their limits', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const h = new KernelHarness(
          kernelConfig({
            accounts: [{ id: 'ACC1', currency: 'USD', cash: '20000' }],
            risk: { ...OPEN_RISK, rules: [{ scope: 'account', id: 'ACC1', limits: { maxLongPosition: '100', maxShortPosition: '80' } }] },
          }),
        );
        h.quote('SIMX', 'AAPL', '99.99', '100.01');
        const placed: string[] = [];
        const pick = (i: number) => (placed.length ? h.kernel.oms.get(placed[i % placed.length]!) : undefined);
        const check = () => {
          // invariants after every step
          const pos = h.kernel.portfolio.peek('ACC1', null, 'AAPL')?.quantity ?? 0n;
          expect(pos <= LONG).toBe(true);
          expect(-pos <= SHORT).toBe(true);
          let openBuy = 0n;
          let openSell = 0n;
          let buyNotional = 0n;
          for (const oo of h.kernel.oms.openOrders()) {
            const leaves = oo.quantity - oo.filledQuantity;
            const pr = oo.pendingReplace ? oo.pendingReplace.quantity - oo.filledQuantity : 0n;
            const l = pr > leaves ? pr : leaves;
            if (oo.side === 'buy') {
          openBuy += l;
          buyNotional += mul(oo.price!, l);
            } else openSell += l;
          }
          // the fills already booked plus everything that could still fill stay inside the limits
          expect(pos + openBuy <= LONG).toBe(true);
          expect(-(pos - openSell) <= SHORT).toBe(true);
          // buying power: what open buys could still spend never exceeds the cash there is
          const cash = h.kernel.portfolio.accounts.get('ACC1')!.cash;
          expect(buyNotional <= cash).toBe(true);
        };
        for (const x of ops) {
          if (x.k === 'new') {
            const o = h.order({ side: x.side, quantity: String(x.qty), price: String(x.px) }).order!;
            if (o.status !== 'Rejected') placed.push(o.id);
            check();
            continue;
          }
          let o = pick(x.i);
          // follow a replace chain to its live version
          while (o && o.replacedById) o = h.kernel.oms.get(o.replacedById);
          if (!o || !isOpen(o.status)) continue;
          if (x.k === 'ack' && o.status === 'PendingNew') h.ack(o);
          else if (x.k === 'fill') {
            const leaves = (o.quantity - o.filledQuantity) / 100_000_000n;
            const q = BigInt(Math.max(1, Math.floor(Number(leaves) * x.frac)));
            // fills at the limit price (a buy can fill no higher)
            if (leaves > 0n) h.fill(o, q.toString(), (o.price! / 100_000_000n).toString());
          } else if (x.k === 'cancel') h.input({ type: 'cmd.order.cancel', actor: { id: 'u', channel: 'api' }, orderId: o.id });
          else if (x.k === 'confirmCancel' && o.status === 'PendingCancel') h.report(o, { execType: 'canceled', ordStatus: 'Canceled' });
          else if (x.k === 'replace' && (o.status === 'New' || o.status === 'PartiallyFilled')) {
            h.input({ type: 'cmd.order.replace', actor: { id: 'u', channel: 'api' }, orderId: o.id, quantity: String(x.qty) });
            if (o.replacedById === null && o.pendingReplace) placed.push(o.id);
          } else if (x.k === 'confirmReplace' && o.pendingReplace) {
            h.report(o, { execType: 'replaced', ordStatus: 'New', clOrdId: o.pendingReplace.clOrdId, origClOrdId: o.clOrdId });
            if (o.replacedById) placed.push(o.replacedById);
          } else if (x.k === 'rejectReplace' && o.pendingReplace) {
            h.report(o, { execType: 'cancelRejected', ordStatus: o.filledQuantity > 0n ? 'PartiallyFilled' : 'New', clOrdId: o.pendingReplace.clOrdId, origClOrdId: o.clOrdId });
          }

          check();
        }
      }),
      { numRuns: 300 },
    );
  });
});
