import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Journal } from '../../src/engine/journal.js';
import { NodeDatabase } from '../../src/storage/database.js';
import { MIGRATIONS } from '../../src/storage/migrations.js';
import { SyntheticFlow } from '../../src/storage/synthetic-flow.js';
import { appendFlow, createTarget, describeDrivers, runDbCli, type Target } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Runs `bulwark db ...` in-process against the target (its data dir; for PostgreSQL a config file with its URL). */
function bulwark(t: Target, ...args: string[]): Promise<string> {
  // the PGlite variant must not pick up DATABASE_URL from the environment of the test run (runDbCli hides it)
  return runDbCli(t.dataDir, 'bulwark.yaml', t.kind === 'postgres' ? `database:\n  url: "${t.settings.url}"\n` : 'database:\n  enabled: true\n', args);
}

describeDrivers('bulwark db', (kind) => {
  it('migrate applies the schema once; status shows versions and the projector against the journal', async () => {
    const t = await createTarget(kind);
    cleanups.push(() => t.cleanup());
    expect(await bulwark(t, 'status')).toMatch(/pending {3}1 {2}core tables[\s\S]*pending {3}2 [\s\S]*pending {3}3 /);
    const versions = MIGRATIONS.map((m) => m.version);
    expect(await bulwark(t, 'migrate')).toContain(`migrations  applied ${versions.join(', ')}\nschema version  ${versions.at(-1)}\n`);
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

describeDrivers('bulwark db prune-audit', (kind) => {
  it('drops the monthly partitions of audit_log that are old enough and archived, and prints them; refuses a bad --years', async () => {
    const t = await createTarget(kind);
    cleanups.push(() => t.cleanup());
    await expect(bulwark(t, 'prune-audit')).rejects.toThrow(/schema is at version 0: audit_log is partitioned from version 5 on; run bulwark db migrate/);
    await bulwark(t, 'migrate');
    const db = await t.open();
    try {
      // seq 1-10 in January 2020; seq 11, now, the archiver's note that everything to seq 10 is in the WORM archive
      await db.query(`SELECT bulwark_ensure_audit_partitions('2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z')`);
      let prev = Buffer.alloc(32);
      for (let seq = 1; seq <= 11; seq++) {
        const hash = createHash('sha256').update(String(seq)).digest();
        const payload = seq === 11 ? { type: 'system.note', event: 'audit.archived', detail: { objects: [], bytes: 0, retainUntil: 'x', archivedThroughSeq: 10 } } : { type: 'timer' };
        await db.query(
          `INSERT INTO audit_log (seq, ts_ns, ts, kind, type, actor_id, payload, prev_hash, hash)
           VALUES ($1::bigint, 0, CASE WHEN $1::bigint = 11 THEN now() ELSE timestamptz '2020-01-15T00:00:00Z' + $1::bigint * interval '1 second' END, 'input', $2, NULL, $3, $4, $5)`,
          [seq, payload.type, JSON.stringify(payload), prev, hash],
        );
        prev = hash;
      }
      await db.query(`UPDATE audit_archive_state SET archived_seq = 10, source_seq = 11, reported_at = now()`);
    } finally {
      await db.close();
    }
    for (const bad of ['0', 'two', '1.5', '-3']) {
      await expect(bulwark(t, 'prune-audit', '--years', bad)).rejects.toThrow(new RegExp(`option '--years <n>' argument '${bad}' is invalid. must be a whole number of years`));
    }
    // three years: January 2020 is old enough
    const out = await bulwark(t, 'prune-audit', '--years', '3');
    expect(out).toMatch(/keep {6}3 years: partitions wholly before \d{4}-/);
    expect(out).toContain('archive   confirmed through seq 10 (audit.archived note at seq 11,');
    expect(out).toContain('dropped   audit_log_p202001  2020-01  seq 1..10\n');
    expect(out).toMatch(/audit_log starts at seq 11, \d+ monthly partitions/);
    expect(await bulwark(t, 'prune-audit')).toContain('dropped   nothing\n');
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
