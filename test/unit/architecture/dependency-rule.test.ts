import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';

/**
 * The dependency rule of style.md, enforced rather than hoped for (the TypeScript analogue of
 * policy-controller's depcheck_test.go): imports go one way, the core imports no framework, and
 * only registry/ (and the HTTP server) open sockets.
 */
const ROOT = join(process.cwd(), 'server');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of src.matchAll(/\b(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

function moduleOf(file: string): string {
  const rel = relative(ROOT, file);
  return rel.includes('/') ? rel.split('/')[0]! : '(root)';
}

const CORE = ['decision', 'policy', 'reference', 'verify', 'imagereview', 'cache'];
const FRAMEWORKS = ['hono', '@hono/node-server', 'pino', 'prom-client'];
const SOCKETS = ['node:net', 'node:tls', 'node:http', 'node:https', 'node:http2', 'net', 'tls', 'http', 'https', 'undici', 'node:dgram'];
/** Which server modules each module may import (besides errors.ts and reference/). */
const ALLOWED: Record<string, string[]> = {
  '(root)': ['cli'],
  cli: ['http', 'imagereview', 'decision', 'policy', 'observe', 'verify', 'registry', 'cache'],
  http: ['imagereview', 'decision', 'observe', 'policy'],
  observe: ['decision'],
  imagereview: [],
  decision: ['policy', 'cache', 'imagereview'],
  policy: [],
  verify: ['registry', 'policy', 'cache', 'decision'],
  registry: ['policy', 'cache'],
  cache: [],
  reference: [],
};

describe('the dependency rule', () => {
  const all = files(ROOT);
  it('finds the source files', () => assert.ok(all.length > 20));
  for (const file of all) {
    const mod = moduleOf(file);
    it(`${relative(ROOT, file)} imports only what ${mod}/ may`, () => {
      for (const spec of imports(file)) {
        if (spec.endsWith('.json')) continue; // package metadata
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec);
          const targetMod = moduleOf(`${target}.ts`);
          if (targetMod === mod || targetMod === 'reference' || relative(ROOT, target) === 'errors') continue;
          assert.ok((ALLOWED[mod] ?? []).includes(targetMod), `${mod}/ may not import ${targetMod}/ (${spec})`);
        } else {
          if (CORE.includes(mod)) assert.ok(!FRAMEWORKS.includes(spec), `${mod}/ may not import ${spec}`);
          if (mod !== 'registry' && mod !== 'http' && mod !== 'cli') {
            assert.ok(!SOCKETS.includes(spec), `${mod}/ may not open sockets (${spec}); only registry/ does`);
          }
        }
      }
    });
  }
});
