/**
 * Risk limit configuration. Limits attach to a scope (firm, account, trader, strategy, symbol); for
 * each order every rule whose scope matches applies, so the tightest one wins. Values are decimal
 * strings (quantities, money, percentages) or integers (counts, milliseconds).
 */
import { z } from 'zod';

export const RISK_SCOPES = ['firm', 'account', 'trader', 'strategy', 'symbol'] as const;
export type RiskScope = (typeof RISK_SCOPES)[number];

const dec = z.string().regex(/^\d{1,20}(\.\d{1,8})?$/, 'must be a non-negative decimal string with at most 8 decimals');
const count = z.number().int().nonnegative();

export const limitValuesSchema = z
  .object({
    maxOrderQty: dec,
    maxOrderNotional: dec,
    minOrderQty: dec,
    maxLongPosition: dec,
    maxShortPosition: dec,
    /** largest share of gross portfolio exposure in one symbol, percent */
    maxConcentrationPct: dec,
    /** concentration applies only once gross exposure passes this amount (a first trade is 100 %) */
    concentrationMinGross: dec,
    /** loss (positive number) since session start that trips the daily-loss state */
    maxDailyLoss: dec,
    /** REDUCING: only exposure-reducing orders; HALTED: no orders; KILL: the kill switch for that scope */
    dailyLossAction: z.enum(['REDUCING', 'HALTED', 'KILL']),
    maxOrdersPerSecond: count,
    maxOrdersPerMinute: count,
    /** new + cancel + replace messages per second */
    maxMessagesPerSecond: count,
    /** distance from the reference price, percent */
    fatFingerPct: dec,
    /** distance from the reference price, in ticks */
    fatFingerTicks: count,
    /** a reference price older than this is not fresh */
    referenceMaxAgeMs: count,
    /** identical orders (side, symbol, quantity, price) within this window are duplicates */
    duplicateWindowMs: count,
    /** extra buying power on top of cash */
    marginAllowance: dec,
    /** maximum gross commitments (open orders + positions), money */
    creditLimit: dec,
    maxOpenOrders: count,
  })
  .partial()
  .strict();

export type LimitValues = z.infer<typeof limitValuesSchema>;

export const limitRuleSchema = z
  .object({
    scope: z.enum(RISK_SCOPES),
    /** the account, trader, strategy or symbol; absent for firm */
    id: z.string().min(1).max(64).optional(),
    limits: limitValuesSchema,
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.scope === 'firm' && r.id !== undefined) ctx.addIssue({ code: 'custom', path: ['id'], message: 'a firm rule has no id' });
    if (r.scope !== 'firm' && r.id === undefined) ctx.addIssue({ code: 'custom', path: ['id'], message: `a ${r.scope} rule needs the ${r.scope} id` });
  });

export type LimitRule = z.infer<typeof limitRuleSchema>;

export const riskConfigSchema = z
  .object({
    rules: z.array(limitRuleSchema),
    /** symbols the firm may not trade */
    restricted: z.array(z.string().min(1)),
    /** utilization alert thresholds, percent */
    alertThresholdsPct: z.array(z.number().positive().max(1000)),
    checkTradingHours: z.boolean(),
  })
  .strict();

export type RiskConfig = z.infer<typeof riskConfigSchema>;

export const DEFAULT_RISK_CONFIG: RiskConfig = {
  rules: [
    {
      scope: 'firm',
      limits: {
        maxOrderQty: '10000',
        maxOrderNotional: '2000000',
        maxLongPosition: '50000',
        maxShortPosition: '50000',
        maxConcentrationPct: '60',
        concentrationMinGross: '1000000',
        maxDailyLoss: '250000',
        dailyLossAction: 'REDUCING',
        maxOrdersPerSecond: 500,
        maxOrdersPerMinute: 20000,
        maxMessagesPerSecond: 2000,
        fatFingerPct: '5',
        referenceMaxAgeMs: 30000,
        duplicateWindowMs: 0,
        marginAllowance: '0',
        maxOpenOrders: 5000,
      },
    },
  ],
  restricted: [],
  alertThresholdsPct: [80, 100],
  checkTradingHours: true,
};
