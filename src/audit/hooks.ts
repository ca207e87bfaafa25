/**
 * Process-level failures become part of the record: an uncaught exception or an unhandled
 * promise rejection is journaled as a `system.note` ('process.uncaughtException' /
 * 'process.unhandledRejection') before the process goes down. Going down is the fail-safe choice
 * (state after an unexpected throw is unknown); the node is asked to stop cleanly first (cancel
 * open orders, flush, final checkpoint) within a time limit.
 */
import type { Input } from '../engine/messages.js';

export interface HookedNode {
  submitQuiet(input: Input): unknown;
  stop(reason?: string): Promise<unknown>;
}

export interface ProcessHookOptions {
  log: (msg: string, data?: Record<string, unknown>) => void;
  /** How long a clean stop may take before the process exits anyway. */
  stopTimeoutMs?: number;
  exit?: (code: number) => void;
}

function describe(e: unknown): Record<string, unknown> {
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack ?? null };
  return { value: String(e) };
}

/** The two handlers, separate from their installation so that they can be tested. */
export function processAuditHandlers(node: HookedNode, opts: ProcessHookOptions): { onException: (e: unknown) => void; onRejection: (reason: unknown) => void } {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let dying = false;
  const die = (event: string, err: unknown): void => {
    const detail = describe(err);
    opts.log(`${event}: stopping the node`, detail);
    node.submitQuiet({ type: 'system.note', event, detail });
    if (dying) return;
    dying = true;
    const t = setTimeout(() => exit(1), opts.stopTimeoutMs ?? 15_000);
    t.unref();
    node.stop(event).then(
      () => exit(1),
      () => exit(1),
    );
  };
  return {
    onException: (e) => die('process.uncaughtException', e),
    onRejection: (reason) => die('process.unhandledRejection', reason),
  };
}

export function installProcessAuditHooks(node: HookedNode, opts: ProcessHookOptions): () => void {
  const { onException, onRejection } = processAuditHandlers(node, opts);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
