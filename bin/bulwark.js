#!/usr/bin/env node
// Thin launcher: the CLI is compiled from src/cli by `npm run build` (run by npm install's prepare step).
import '../dist/src/cli/main.js';
