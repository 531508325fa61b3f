// Smoke test of `npm run bench`: a --quick --json run on tiny sizes gives one JSON object with every
// section, and what it timed was real work (fixtures verified with their expected status, the released
// secret opened). No timing is asserted: speed belongs in the benchmark's own output.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { BenchReport } from '../bench/run.ts';
import { needsShared, sharedPath } from './helpers/shared.ts';

const execFileP = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '..');
const RUN = path.join(REPO, 'bench', 'run.ts');
const FIXTURES = sharedPath('fixtures/dcap');

function bench(args: string[]) {
  const env = { ...process.env, WARDEN_FIXTURES: FIXTURES };
  return execFileP(process.execPath, ['--import', 'tsx', RUN, ...args], { cwd: REPO, env, maxBuffer: 16 * 2 ** 20, timeout: 180_000 });
}

function isRate(r: unknown): boolean {
  const x = r as { usPerQuote?: unknown; perSecond?: unknown };
  return typeof x.usPerQuote === 'number' && x.usPerQuote > 0 && typeof x.perSecond === 'number' && x.perSecond > 0;
}

describe('npm run bench -- --quick --json', () => {
  let report: BenchReport;
  let stdout = '';

  before(async () => {
    stdout = (await bench(['--quick', '--json'])).stdout;
    report = JSON.parse(stdout) as BenchReport;
  });

  test('prints exactly one JSON object on stdout', () => {
    assert.equal(stdout.trim().split('\n').length, 1);
    assert.equal(report.quick, true);
  });

  test('names the machine: date, node, cores, load average at start', () => {
    assert.ok(!Number.isNaN(Date.parse(report.machine.date)));
    assert.equal(report.machine.node, process.version);
    assert.ok(report.machine.cpus >= 1);
    assert.equal(report.machine.loadavgAtStart.length, 3);
  });

  test('verification: fixtures, seen-before and never-seen quotes, floors and dcap-qvl ratios', () => {
    const v = report.verification;
    assert.ok(!('error' in v) && !('skipped' in v), JSON.stringify(v));
    for (const r of [v.steady.warden, v.steady.floor, v.steady.dcapQvl, v.cold.warden, v.cold.floor, v.cold.floorFull]) assert.ok(isRate(r), JSON.stringify(r));
    for (const x of [v.steady.fractionOfFloor, v.steady.timesDcapQvl, v.cold.fractionOfFloor, v.cold.fractionOfFullFloor, v.cold.timesDcapQvl]) assert.ok(x > 0);
    assert.equal(typeof v.targets.steadyFractionOfFloor, 'boolean');
    assert.ok(v.cold.platforms > 0 && v.steady.platforms > 0);
  });

  test('verification: the fixtures it times verify with the status they expect', needsShared('fixtures/dcap'), () => {
    const v = report.verification;
    assert.ok(!('error' in v) && !('skipped' in v));
    assert.ok(v.fixtures.cases.length >= 1);
    assert.ok(isRate(v.fixtures.warden) && isRate(v.fixtures.floor));
    for (const c of v.fixtures.cases) {
      const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, c.name, 'expected.json'), 'utf8')) as { status: string };
      assert.equal(c.warden, expected.status, c.name);
    }
  });

  test('batch: `warden verify --batch` verified every quote it timed, at a measured rate', () => {
    const b = report.batch;
    assert.ok(!('error' in b) && !('skipped' in b), JSON.stringify(b));
    assert.equal(b.allVerified, true);
    assert.ok(b.quotes > 0 && b.quotesPerSecond > 0 && b.startupMs > 0);
  });

  test('release: every level released the real secret over HTTPS, without failures', () => {
    const r = report.release;
    assert.ok(!('error' in r) && !('skipped' in r), JSON.stringify(r));
    assert.equal(r.sealedSecretOpened, true);
    assert.ok(r.modes.length >= 1);
    for (const m of r.modes) {
      assert.ok(m.levels.length >= 1);
      for (const l of m.levels) {
        assert.ok(l.releases > 0, JSON.stringify(l));
        assert.equal(l.failures, 0, JSON.stringify(l.failureCodes));
        assert.ok(l.p50ms > 0 && l.p99ms >= l.p50ms);
      }
    }
  });

  test('release: two replicas on PostgreSQL measured beside SQLite, or the report says why not', () => {
    const r = report.release;
    assert.ok(!('error' in r) && !('skipped' in r), JSON.stringify(r));
    const replicas = r.modes.filter((m) => m.replicas === 2 && m.database === 'postgres');
    if (r.replicasSkipped) assert.equal(replicas.length, 0);
    else assert.equal(replicas.length, 1, 'one two-replica mode');
    assert.ok(r.modes.some((m) => m.replicas === 1 && m.database === 'sqlite'));
  });

  test('nonces: the consumed-nonce table stays within rate x lifetime + one purge batch', () => {
    const n = report.nonces;
    assert.ok(!('error' in n) && !('skipped' in n), JSON.stringify(n));
    assert.ok(n.consumed > n.boundRows, 'the run consumed more nonces than the bound, so the bound was tested');
    assert.ok(n.maxStoredRows <= n.boundRows, JSON.stringify(n.samples));
    assert.ok(n.samples.length > 0);
  });

  test('release: side by side with the floor, per concurrency, for keep-alive and connection-per-boot clients; a fleet; the QE cache hit rate', () => {
    const r = report.release;
    assert.ok(!('error' in r) && !('skipped' in r), JSON.stringify(r));
    assert.deepEqual(r.patterns.map((p) => p.pattern), ['keep-alive', 'connection-per-boot']);
    assert.deepEqual(r.vsFloor, r.patterns[0]!.vsFloor);
    for (const p of r.patterns) {
      assert.ok(p.vsFloor.length >= 1);
      assert.deepEqual(p.vsFloor.map((v) => v.concurrency), p.floor.map((l) => l.concurrency));
      for (const v of p.vsFloor) {
        assert.deepEqual(Object.keys(v).sort(), ['concurrency', 'cpuPerReleaseRatio', 'floorP99ms', 'p99ms', 'releasesRatio', 'rounds']);
        assert.ok(v.releasesRatio > 0 && v.p99ms > 0 && v.floorP99ms > 0 && v.rounds >= 2, JSON.stringify(v));
      }
      for (const l of p.floor) assert.equal(l.failures, 0, JSON.stringify(l.failureCodes));
    }
    assert.ok(r.platforms > 1 && r.fmspcs > 1 && r.prefilledAuditEntries > 0);
    // Every release verified a quote: the QE-report signature was checked by ECDSA once per platform at most per worker, else found in the cache.
    assert.ok(r.qeReportCache && r.qeReportCache.misses >= 1 && r.qeReportCache.hits >= 1, JSON.stringify(r.qeReportCache));
  });

  test('boot: measured, or says why not', () => {
    const b = report.boot;
    assert.ok(!('error' in b) && !('skipped' in b), JSON.stringify(b));
    if (b.available) assert.ok(b.runs >= 1 && b.p50ms > 0 && b.maxms >= b.minms);
    else assert.ok(b.reason.length > 0);
  });

  test('growth: both dimensions, one point per size, with memory', () => {
    const g = report.growth;
    assert.ok(!('error' in g) && !('skipped' in g), JSON.stringify(g));
    for (const d of [g.platforms, g.fmspcs]) {
      assert.ok(!('error' in d), JSON.stringify(d));
      assert.deepEqual(d.points.map((p) => p.n), g.sizes);
      for (const p of d.points) assert.ok(p.usPerQuote > 0 && p.floorUsPerQuote > 0 && p.heapUsedMiB > 0 && (p.verifierBytesPerItem === null || Number.isFinite(p.verifierBytesPerItem)));
    }
  });
});

test('an unknown argument is a usage error (exit 2, one line and the usage)', async () => {
  await assert.rejects(bench(['--bogus']), (e: { code?: number; stderr?: string }) => {
    assert.equal(e.code, 2);
    assert.match(e.stderr ?? '', /^bench: unknown argument '--bogus'\nusage: /);
    return true;
  });
});
