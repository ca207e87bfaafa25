/**
 * Starts a worker thread from a module next to the caller. From the build (dist/**.js) that is a
 * plain `new Worker(file)`. When running from TypeScript sources (vitest, the bench run from
 * source), the worker cannot load `.ts` files by itself: Node 20 has no type stripping. Then the
 * worker first registers a small module hook that resolves `./x.js` to `./x.ts` when only the
 * latter exists and transpiles it with the TypeScript compiler (a devDependency, so this path is
 * for development only; the build never takes it).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

const TS_HOOKS = `
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
let tsUrl;
let ts;
export function initialize(data) { tsUrl = data.tsUrl; }
export async function resolve(specifier, context, next) {
  const parent = context.parentURL;
  if (parent !== undefined && parent.startsWith('file:') && specifier.endsWith('.js') && (specifier.startsWith('.') || specifier.startsWith('file:'))) {
    const js = new URL(specifier, parent);
    if (!existsSync(fileURLToPath(js))) {
      const tsFile = new URL(js.href.slice(0, -3) + '.ts');
      if (existsSync(fileURLToPath(tsFile))) return { url: tsFile.href, format: 'module', shortCircuit: true };
    }
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (url.startsWith('file:') && url.endsWith('.ts')) {
    ts ??= (await import(tsUrl)).default;
    const fileName = fileURLToPath(url);
    const out = ts.transpileModule(readFileSync(fileName, 'utf8'), {
      fileName,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, inlineSourceMap: true, inlineSources: true },
    });
    return { format: 'module', source: out.outputText, shortCircuit: true };
  }
  return next(url, context);
}
`;

function dataUrl(js: string): URL {
  return new URL('data:text/javascript,' + encodeURIComponent(js));
}

/** `moduleUrl` is the worker's module as the caller sees it: `new URL('./w.js', import.meta.url)`. */
export function spawnWorker(moduleUrl: URL, callerUrl: string, options: WorkerOptions = {}): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(moduleUrl, options);
  const entry = new URL(moduleUrl.href.replace(/\.js$/, '.ts'));
  const tsUrl = pathToFileURL(createRequire(callerUrl).resolve('typescript')).href;
  const boot = [
    `import { register } from 'node:module';`,
    `register(${JSON.stringify(dataUrl(TS_HOOKS).href)}, { data: { tsUrl: ${JSON.stringify(tsUrl)} } });`,
    `await import(${JSON.stringify(entry.href)});`,
  ].join('\n');
  return new Worker(dataUrl(boot), options);
}
