/**
 * `npm run bench [-- name ...]`: runs the benchmarks and writes docs/benchmarks.md with the date and
 * the machine. Figures in the docs come only from here, never from timed assertions in tests.
 */
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { formatResult, machineInfo, speedCheck, type BenchResult } from './harness.js';

const BENCHES: Record<string, () => Promise<BenchResult>> = {
  risk: async () => (await import('./risk.bench.js')).benchRisk(),
  kill: async () => (await import('./kill.bench.js')).benchKill(),
  journal: async () => (await import('./journal.bench.js')).benchJournal(),
};

export function registerBench(name: string, fn: () => Promise<BenchResult>): void {
  BENCHES[name] = fn;
}

async function main(): Promise<void> {
  // as bin/bulwark.js does for the node (the pool is created on first use)
  process.env.UV_THREADPOOL_SIZE ??= '8';
  const extra = ['db', 'audit', 'recovery', 'engine'];
  for (const name of extra) {
    const file = new URL(`./${name}.bench.js`, import.meta.url);
    if (existsSync(file)) {
      const mod = (await import(file.href)) as Record<string, () => Promise<BenchResult>>;
      const fn = Object.entries(mod).find(([k, v]) => k.startsWith('bench') && typeof v === 'function');
      if (fn) BENCHES[name] = fn[1];
    }
  }
  const wanted = process.argv.slice(2);
  for (const w of wanted) if (!BENCHES[w]) throw new Error(`unknown benchmark "${w}" (known: ${Object.keys(BENCHES).join(', ')})`);
  const names = wanted.length ? wanted : Object.keys(BENCHES);
  const speed = speedCheck();
  process.stderr.write(`speed check: JSON.stringify ${speed.stringifyNs} ns, SHA-256 ${speed.sha256Ns} ns\n`);
  const results: BenchResult[] = [];
  for (const n of names) {
    process.stderr.write(`bench ${n} ...\n`);
    const t0 = Date.now();
    const r = await BENCHES[n]!();
    process.stderr.write(`bench ${n} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    process.stdout.write(formatResult(r) + '\n\n');
    results.push(r);
  }
  const doc = new URL('../../docs/benchmarks.md', import.meta.url);
  const m = machineInfo();
  const stamp = new Date().toISOString();
  // keep sections of benchmarks not run this time; replace the ones that were
  const previous = existsSync(doc) ? readFileSync(doc, 'utf8') : '';
  const sections = new Map<string, string>();
  for (const block of previous.split(/\n(?=## )/).slice(1)) sections.set(block.split('\n')[0]!, block.trim());
  for (const r of results) sections.set(`## ${r.name}`, `${formatResult(r)}\n\n_Run ${stamp} on ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}; speed check: JSON.stringify of a 260-byte event ${speed.stringifyNs} ns, SHA-256 of 300 bytes ${speed.sha256Ns} ns._`);
  const head = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (`npm run bench -- risk kill` runs a subset and keeps the other sections).',
    'Each section says when and on what machine it ran. Targets are from `../shared/GUIDE.md`.',
    'The speed check in each footer times two small jobs of the hot path on the machine at that moment: the',
    'shared VM these ran on has been measured several times slower on some days than on others, so compare',
    'sections by it.',
    '',
  ].join('\n');
  writeFileSync(doc, head + '\n' + [...sections.values()].join('\n\n') + '\n');
}

await main();
