// The import graph of src/: which module imports which, the folders they live in, and any cycles.
// Used by test/architecture.test.ts; run it directly to print the folder graph:
//   node --import tsx test/helpers/imports.ts [SRC_DIR]
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ImportGraph {
  /** Module (path relative to src/) -> the modules it imports (type-only imports included: they still couple). */
  modules: Map<string, string[]>;
}

const IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|^\s*import\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/gm;

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
}

export function importGraph(srcDir: string): ImportGraph {
  const modules = new Map<string, string[]>();
  for (const file of walk(srcDir)) {
    const text = readFileSync(file, 'utf8');
    const deps = new Set<string>();
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (spec && spec.endsWith('.ts')) deps.add(relative(srcDir, resolve(dirname(file), spec)));
    }
    modules.set(relative(srcDir, file), [...deps].sort());
  }
  return { modules };
}

/** The folder of a module ('config.ts' at the top is its own "folder"). */
export function folderOf(module: string): string {
  const i = module.indexOf('/');
  return i < 0 ? module : module.slice(0, i);
}

/** Folder -> folders it imports from (itself excluded). */
export function folderGraph(g: ImportGraph): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const [m, deps] of g.modules) {
    const f = folderOf(m);
    const set = out.get(f) ?? new Set<string>();
    out.set(f, set);
    for (const d of deps) if (folderOf(d) !== f) set.add(folderOf(d));
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)).map(([f, s]) => [f, [...s].sort()]));
}

/** Strongly connected components of more than one node (or a self-loop): each is an import cycle. */
export function cycles(edges: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (edges.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of edges.keys()) if (!idx.has(v)) visit(v);
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const src = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '../../src'));
  const g = importGraph(src);
  const folders = folderGraph(g);
  for (const [f, deps] of folders) console.log(`${f.padEnd(12)} -> ${deps.join(', ') || '(nothing)'}`);
  const folderCycles = cycles(folders);
  const moduleCycles = cycles(g.modules);
  console.log(`folder cycles: ${folderCycles.length ? folderCycles.map((c) => c.join(' <-> ')).join('; ') : 'none'}`);
  console.log(`module cycles: ${moduleCycles.length ? moduleCycles.map((c) => c.join(' <-> ')).join('; ') : 'none'}`);
}
