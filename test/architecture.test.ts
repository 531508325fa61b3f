// The shape of the house, checked: no module is imported in a cycle, the pure core never imports the
// edges, and no file grows past ~400 lines without a stated reason.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from './helpers/fixtures.ts';
import { cycles, folderGraph, folderOf, importGraph } from './helpers/imports.ts';

const graph = importGraph(join(REPO_ROOT, 'src'));

test('no module and no folder of src/ is imported in a cycle', () => {
  assert.deepEqual(cycles(graph.modules), [], 'module cycles');
  assert.deepEqual(cycles(folderGraph(graph)), [], 'folder cycles');
});

// What each folder may import. The pure core (wire rules, primitives, verification, policy, simulator)
// never imports the edges; the edges call into it.
// util (the bounded cache) and protocol (wire rules, error table, defaults) are leaves everyone may use.
const LEAVES = ['util', 'protocol'];
const MAY_IMPORT: Record<string, string[]> = {
  util: [],
  protocol: [],
  crypto: [...LEAVES],
  dcap: [...LEAVES, 'crypto'],
  policy: [...LEAVES, 'dcap'],
  sim: [...LEAVES, 'crypto', 'dcap'],
  collateral: [...LEAVES, 'crypto', 'dcap'],
  secrets: [...LEAVES, 'crypto'],
  // The store persists collateral items (src/store/collateral-cache.ts implements collateral's cache interface).
  store: [...LEAVES, 'crypto', 'secrets', 'collateral'],
  server: [...LEAVES, 'crypto', 'dcap', 'policy', 'sim', 'collateral', 'secrets', 'store'],
  cli: [...LEAVES, 'crypto', 'dcap', 'policy', 'sim', 'collateral', 'secrets', 'store', 'server'],
};

test('each folder imports only the folders below it', () => {
  for (const [module, deps] of graph.modules) {
    const from = folderOf(module);
    assert.ok(from in MAY_IMPORT, `${module}: src/${from} is a folder this test does not know (add it to MAY_IMPORT)`);
    for (const d of deps) {
      const to = folderOf(d);
      if (to !== from) assert.ok(MAY_IMPORT[from]!.includes(to), `${module} imports ${d}: src/${from} may not import src/${to}`);
    }
  }
});

// Longer files, each with the reason it stays one file.
const LONG_FILES: Record<string, string> = {
  'test/occlum-e2e.test.ts': 'one real enclave-side boot per scenario, sharing one built image and server; split, each part would rebuild them',
  'test/e2e-attest.test.ts': 'the end-to-end protocol over real sockets against one server, in the order an operator meets it',
};

test('no source, test or bench file is over ~400 lines without a stated reason', () => {
  const files = execFileSync('git', ['ls-files', 'src', 'test', 'bench', 'occlum-image'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((f) => /\.(ts|c|h)$/.test(f));
  const long = files.filter((f) => {
    try {
      return readFileSync(join(REPO_ROOT, f), 'utf8').split('\n').length > 420;
    } catch {
      return false; // listed by git but deleted in this working tree
    }
  });
  assert.deepEqual(long.filter((f) => !(f in LONG_FILES)), [], 'long files without a reason in LONG_FILES');
});
