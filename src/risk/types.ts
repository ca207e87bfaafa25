/** What the OMS asks of pre-trade risk. Checks are synchronous and never await. */
import type { Price, Qty } from '../core/fixed.js';
import type { Nanos } from '../core/time.js';
import type { Order } from '../oms/order.js';

export interface RiskVerdict {
  /** reason code, e.g. MAX_ORDER_QTY */
  code: string;
  /** the numbers behind the decision: limit, value, projection, scope */
  detail: Record<string, string>;
}

export interface PreTradeRisk {
  checkNew(o: Order, now: Nanos): RiskVerdict | null;
  checkReplace(o: Order, quantity: Qty, price: Price | null, now: Nanos): RiskVerdict | null;
  checkCancel(o: Order, now: Nanos): RiskVerdict | null;
}
