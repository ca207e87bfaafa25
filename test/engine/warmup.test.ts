/**
 * The kill switch's JIT warm-up (src/engine/warmup.ts) runs the real path on a scratch kernel: with
 * the node's own instruments and venues every scratch order is placed, acknowledged and ended by
 * the kill (mass cancel where the venue offers it, one cancel per order elsewhere), and none of it
 * reaches the node.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { warmKillPath } from '../../src/engine/warmup.js';
import { BulwarkNode } from '../../src/engine/node.js';
import { kernelConfigOf, simOnlyConfig } from '../../src/ops/config.js';

function config(dir: string, massCancel: boolean[]) {
  return simOnlyConfig(
    dir,
    ['SIMX', 'SIMY'].map((id, i) => ({ id, supportsMassCancel: massCancel[i]! })),
  );
}

describe('kill switch warm-up', () => {
  it('ends every scratch order: by mass cancel where the venue offers it, one by one elsewhere', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-warmup-'));
    try {
      const both = warmKillPath(kernelConfigOf(config(dir, [true, true])), 400);
      expect(both.orders).toBe(400);
      expect(both.massCanceled).toBe(400);
      const mixed = warmKillPath(kernelConfigOf(config(dir, [true, false])), 400);
      expect(mixed.orders).toBe(400);
      // half the instruments are on SIMY, which cancels one by one
      expect(mixed.massCanceled).toBeGreaterThan(0);
      expect(mixed.massCanceled).toBeLessThan(400);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs at node start and leaves nothing of itself in the node: no order, no kill, no journal record', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-warmup-'));
    const logs: string[] = [];
    try {
      const node = await BulwarkNode.start(config(dir, [true, false]), { startAgents: false, log: (msg: string) => logs.push(msg) });
      try {
        expect(logs).toContain('kill switch path warmed up on a scratch kernel');
        expect(node.kernel.oms.openOrders()).toEqual([]);
        expect(node.kernel.killSwitch.activations).toEqual([]);
        await node.journal.flush();
        const types = new Set<string>();
        for (const r of (await import('../../src/engine/journal.js')).Journal.read(join(dir, 'journal'))) types.add(r.payload.type);
        expect([...types].filter((t) => t.startsWith('kill.') || t === 'cmd.kill' || t.startsWith('order.'))).toEqual([]);
      } finally {
        await node.stop('test');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
