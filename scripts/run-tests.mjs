#!/usr/bin/env node
// Runs the compiled tests (dist/test/<tier>/**/*.test.js) with node's own test runner.
// Usage: node scripts/run-tests.mjs [tier...]   tiers: unit http peers e2e bench (default: all)
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const ALL = ['unit', 'http', 'peers', 'e2e', 'bench'];
const tiers = process.argv.slice(2).length ? process.argv.slice(2) : ALL;
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
}
for (const tier of tiers) {
  const dir = join('dist', 'test', tier);
  if (existsSync(dir)) walk(dir);
}
if (files.length === 0) {
  console.error(`no test files found for tiers: ${tiers.join(', ')}`);
  process.exit(1);
}
// One file at a time: peer and e2e tests start servers on fixed loopback resources.
const args = ['--test', '--test-concurrency=1', '--enable-source-maps', ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
