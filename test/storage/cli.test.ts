import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { afterEach, expect, it } from 'vitest';
import { Journal } from '../../src/engine/journal.js';
import { registerDbCommands } from '../../src/storage/cli.js';
import { NodeDatabase } from '../../src/storage/database.js';
import { SyntheticFlow } from '../../src/storage/synthetic-flow.js';
import { appendFlow, createTarget, describeDrivers, type Target } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Runs `bulwark db ...` in-process against the target (its data dir; for PostgreSQL a config file with its URL). */
async function bulwark(t: Target, ...args: string[]): Promise<string> {
  let out = '';
  const program = new Command().exitOverride();
  registerDbCommands(program, { out: (s) => (out += s) });
  const config = path.join(t.dataDir, 'bulwark.yaml');
  fs.writeFileSync(config, t.kind === 'postgres' ? `database:\n  url: "${t.settings.url}"\n` : 'database:\n  enabled: true\n');
  // the PGlite variant must not pick up DATABASE_URL from the environment of the test run
  const saved = process.env.DATABASE_URL;
  delete process.env.DATABASE_URL;
  try {
    await program.parseAsync(['db', ...args, '-d', t.dataDir, '-c', config], { from: 'user' });
  } finally {
    if (saved !== undefined) process.env.DATABASE_URL = saved;
  }
  return out;
}

describeDrivers('bulwark db', (kind) => {
  it('migrate applies the schema once; status shows versions and the projector against the journal', async () => {
    const t = await createTarget(kind);
    cleanups.push(() => t.cleanup());
    expect(await bulwark(t, 'status')).toMatch(/pending {3}1 {2}core tables[\s\S]*pending {3}2 [\s\S]*pending {3}3 /);
    expect(await bulwark(t, 'migrate')).toMatch(/migrations {2}applied 1, 2, 3\nschema version {2}3/);
    expect(await bulwark(t, 'migrate')).toMatch(/migrations {2}up to date/);

    const journal = await Journal.open(path.join(t.dataDir, 'journal'), { fsync: false, segmentBytes: 64 * 1024 });
    appendFlow(journal, new SyntheticFlow(9), 1, 300);
    await journal.flush();
    let status = await bulwark(t, 'status');
    expect(status).toMatch(/applied {3}1 {2}core tables/);
    expect(status).toMatch(/time series {2}native monthly partitions/);
    expect(status).toMatch(new RegExp(`projector last seq {2}0\\njournal last seq {4}${journal.lastSeq}\\nlag {17}${journal.lastSeq}`));

    const db = NodeDatabase.start(t.settings, journal);
    await db.whenProjected(journal.lastSeq);
    await db.stop();
    await journal.close();
    status = await bulwark(t, 'status');
    expect(status).toMatch(new RegExp(`projector last seq {2}${journal.lastSeq}\\njournal last seq {4}${journal.lastSeq}\\nlag {17}0`));
    expect(status).not.toMatch(/PROBLEM/);

    const admin = await t.open();
    await admin.query(`UPDATE schema_migrations SET checksum = 'x' WHERE version = 1`);
    await admin.close();
    expect(await bulwark(t, 'status')).toMatch(/PROBLEM {3}version 1/);
    await expect(bulwark(t, 'migrate')).rejects.toThrow(/refusing to start/);
  });
});

it('refuses to open an embedded database that a running node holds', async () => {
  const t = await createTarget('pglite');
  cleanups.push(() => t.cleanup());
  // another live process holds the lock (the parent of this test process is alive)
  fs.writeFileSync(`${t.settings.pgliteDir}.lock`, String(process.ppid));
  await expect(bulwark(t, 'status')).rejects.toThrow(new RegExp(`in use by process ${process.ppid}`));
  // a lock left by a dead process is taken over
  fs.writeFileSync(`${t.settings.pgliteDir}.lock`, '999999999');
  expect(await bulwark(t, 'status')).toMatch(/pending/);
});
