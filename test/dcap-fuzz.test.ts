// Property: random truncations and bit flips of real quotes always give a typed rejection, or,
// where the flip lands somewhere that does not change meaning, exactly the same verdict.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCollateralJson } from '../src/dcap/collateral-json.ts';
import { VERIFICATION_ERROR_CODES, VerificationError } from '../src/dcap/errors.ts';
import { verifyQuote } from '../src/dcap/verify.ts';
import { FIXTURES_MISSING, loadFixtures } from './helpers/fixtures.ts';

// A fixed-seed PRNG so a failure reproduces.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Outcome = { ok: true; verdict: string } | { ok: false; code: string };

describe('fuzzing real quotes', { skip: FIXTURES_MISSING }, () => {
  const cases = loadFixtures().filter((f) => f.expected.ok && f.expected.report.teeType === 'SGX');

  for (const f of cases) {
    const collateral = parseCollateralJson(f.collateralText);
    const at = new Date(f.expected.at);
    const run = (quote: Buffer): Outcome => {
      try {
        const v = verifyQuote(quote, collateral, { at, trustedRoot: f.rootPem });
        return { ok: true, verdict: JSON.stringify([v.status, v.advisoryIds, v.report.raw.toString('hex')]) };
      } catch (e) {
        assert.ok(e instanceof VerificationError, `non-typed error: ${(e as Error)?.stack ?? String(e)}`);
        assert.ok(e.code in VERIFICATION_ERROR_CODES, `unknown code ${e.code}`);
        return { ok: false, code: e.code };
      }
    };
    const original = run(f.quote);
    assert.equal(original.ok, true);

    it(`${f.name}: every truncation is a typed rejection`, () => {
      for (let len = 0; len < f.quote.length; len++) {
        const out = run(f.quote.subarray(0, len));
        assert.equal(out.ok, false, `truncation to ${len} bytes verified`);
      }
    });

    it(`${f.name}: 3000 random bit flips are typed rejections or the same verdict`, () => {
      const rand = prng(0x5eed + f.quote.length);
      let rejected = 0;
      for (let i = 0; i < 3000; i++) {
        const q = Buffer.from(f.quote);
        const flips = 1 + Math.floor(rand() * 3);
        for (let k = 0; k < flips; k++) {
          const pos = Math.floor(rand() * q.length);
          q[pos]! ^= 1 << Math.floor(rand() * 8);
        }
        const out = run(q);
        if (out.ok) assert.deepEqual(out, original, `flip ${i} changed the verdict without a rejection`);
        else rejected++;
      }
      assert.ok(rejected > 2900, `only ${rejected} of 3000 mutated quotes were rejected`);
    });

    it(`${f.name}: appended zero padding is ignored, appended garbage rejected`, () => {
      assert.deepEqual(run(Buffer.concat([f.quote, Buffer.alloc(100)])), original);
      assert.deepEqual(run(Buffer.concat([f.quote, Buffer.from([0, 0, 1])])), { ok: false, code: 'malformed_quote' });
    });
  }
});
