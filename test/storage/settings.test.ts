/**
 * The database section of the configuration: a URL that is not a PostgreSQL URL is refused at
 * start, naming the field and where it may have come from, without echoing it (it may hold a password).
 */
import { describe, expect, it } from 'vitest';
import { openAuditDatabase } from '../../src/audit/db.js';
import { ConfigError, loadConfig } from '../../src/ops/config.js';

describe('database configuration', () => {
  it('takes postgres:// and postgresql:// URLs, from the file or the environment (the file wins)', () => {
    expect(loadConfig({ env: {}, overrides: { database: { url: 'postgres://bulwark@db-1:5432/firm' } } }).database.url).toBe('postgres://bulwark@db-1:5432/firm');
    expect(loadConfig({ env: { DATABASE_URL: 'postgresql://u:p@127.0.0.1/test', DATABASE_READ_URL: 'postgres:///test?host=/var/run/postgresql' } }).database).toMatchObject({
      url: 'postgresql://u:p@127.0.0.1/test',
      readUrl: 'postgres:///test?host=/var/run/postgresql',
    });
    expect(loadConfig({ env: { DATABASE_URL: 'postgres://env/x' }, overrides: { database: { url: 'postgres://file/x' } } }).database.url).toBe('postgres://file/x');
    expect(loadConfig({ env: {} }).database.url).toBeUndefined();
  });

  it('refuses anything else, naming the field and the variable, never the value', () => {
    const cases: [Record<string, string>, Record<string, unknown>, RegExp][] = [
      [{}, { url: 'notaurl' }, /database\.url: must be a postgres:\/\/user@host:port\/database URL \(set in the file or by DATABASE_URL\)/],
      [{ DATABASE_URL: 'mysql://root:s3cret@db/x' }, {}, /database\.url: .*DATABASE_URL/],
      [{ DATABASE_READ_URL: 'http://replica:s3cret@db/x' }, {}, /database\.readUrl: .*DATABASE_READ_URL/],
    ];
    for (const [env, database, message] of cases) {
      let err: unknown;
      try {
        loadConfig({ env, overrides: { database } });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toMatch(/s3cret|notaurl/);
    }
  });

  it('bulwark audit verify, which reads DATABASE_URL itself, names it too', async () => {
    await expect(openAuditDatabase('/nonexistent', { DATABASE_URL: 'mysql://root:s3cret@db/x' })).rejects.toThrow(/^DATABASE_URL: must be a postgres:\/\/user@host:port\/database URL$/);
  });
});
