// Section: `warden verify --batch` as a user runs it: one process, quote and collateral files on disk,
// one verdict line per quote. Distinct platforms (PCK certificates) and enclaves, a collateral file per
// FMSPC. The process's start-up is measured apart (an empty batch) and taken out of the rate.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collateralToJson } from '../src/dcap/collateral-json.ts';
import { SimPki, makeCollateral, makeQuote } from '../src/sim/index.ts';
import { median, round } from './measure.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/warden.js');

export interface BatchResult {
  quotes: number;
  platforms: number;
  fmspcs: number;
  runs: number;
  startupMs: number;
  /** Median over runs, start-up taken out. */
  quotesPerSecond: number;
  /** Including start-up, for one run of `quotes` lines. */
  quotesPerSecondWithStartup: number;
  allVerified: boolean;
}

function runBatch(file: string): { ms: number; stdout: string; status: number | null } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [BIN, 'verify', '--batch', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, stdout: r.stdout, status: r.status };
}

export async function benchBatch(o: { quick: boolean }): Promise<BatchResult> {
  const quotes = o.quick ? 200 : 5000;
  const platforms = o.quick ? 10 : 200;
  const fmspcs = o.quick ? 2 : 10;
  const runs = o.quick ? 1 : 5;
  const at = new Date();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-batch-'));
  try {
    const pki = await SimPki.create({ at });
    fs.writeFileSync(path.join(dir, 'root.pem'), pki.rootPem);
    const plats = [];
    for (let i = 0; i < platforms; i++) plats.push(await pki.platform({ fmspc: `00906ed500${String(i % fmspcs).padStart(2, '0')}`, ppid: Buffer.alloc(16, i) }, at));
    for (let f = 0; f < fmspcs; f++) {
      const c = await makeCollateral(pki, { at, platform: plats[f]! });
      fs.writeFileSync(path.join(dir, `c${f}.json`), JSON.stringify(collateralToJson(c)));
    }
    const lines: string[] = [];
    for (let i = 0; i < quotes; i++) {
      const p = i % platforms;
      const reportData = Buffer.alloc(64);
      reportData.writeUInt32LE(i);
      fs.writeFileSync(path.join(dir, `q${i}.bin`), makeQuote({ platform: plats[p]!, report: { reportData, isvSvn: i % 7 } }));
      lines.push(JSON.stringify({ quote: `q${i}.bin`, collateral: `c${p % fmspcs}.json`, rootCa: 'root.pem', at: at.toISOString(), id: i }));
    }
    const file = path.join(dir, 'batch.jsonl');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const empty = path.join(dir, 'empty.jsonl');
    fs.writeFileSync(empty, '');
    const startups: number[] = [];
    const totals: number[] = [];
    let allVerified = true;
    for (let r = 0; r < runs; r++) {
      startups.push(runBatch(empty).ms);
      const full = runBatch(file);
      totals.push(full.ms);
      const out = full.stdout.trimEnd().split('\n');
      allVerified &&= full.status === 0 && out.length === quotes && out.every((l) => (JSON.parse(l) as { ok: boolean }).ok);
    }
    const startupMs = median(startups);
    const totalMs = median(totals);
    return {
      quotes,
      platforms,
      fmspcs,
      runs,
      startupMs: round(startupMs, 0),
      quotesPerSecond: Math.round((quotes * 1000) / Math.max(1, totalMs - startupMs)),
      quotesPerSecondWithStartup: Math.round((quotes * 1000) / totalMs),
      allVerified,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
