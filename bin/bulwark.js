#!/usr/bin/env node
// Thin launcher: the CLI is compiled from src/cli by `npm run build` (run by npm install's prepare step).
// The journal keeps up to four libuv threads busy (two fdatasyncs in flight, a write, the zero-fill
// of the next segment); the default pool of four would leave snapshots and the venues' stores
// waiting behind it. The pool is created on first use, so this must come before any file I/O.
process.env.UV_THREADPOOL_SIZE ??= '8';
await import('../dist/src/cli/main.js');
