// Property: random truncations and bit flips of quotes (real ones, and the simulator's) and of collateral
// always give a typed rejection, or, where the flip lands somewhere that does not change meaning, exactly
// the same verdict. No input ever produces internal_error: that code is kept for our own bugs.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { collateralToJson, parseCollateralJson } from '../src/dcap/collateral-json.ts';
import { VerificationError } from '../src/dcap/errors.ts';
import type { Collateral } from '../src/dcap/types.ts';
import { parseQuote } from '../src/dcap/quote.ts';
import { verifyQuote } from '../src/dcap/verify.ts';
import { VERIFICATION_CODES, codeOf } from '../src/protocol/errors.ts';
import { SimPki, makeCollateral, makeQuote } from '../src/sim/index.ts';
import { loadFixtures } from './helpers/fixtures.ts';
import { describeShared } from './helpers/shared.ts';
import { prng } from './helpers/prng.ts';

type Outcome = { ok: true; verdict: string } | { ok: false; code: string };

describeShared('fixtures/dcap', 'fuzzing real quotes', () => {
  const cases = loadFixtures().filter((f) => f.expected.ok);

  for (const f of cases) {
    const collateral = parseCollateralJson(f.collateralText);
    const at = new Date(f.expected.at);
    const run = (quote: Buffer): Outcome => {
      try {
        const v = verifyQuote(quote, collateral, { at, trustedRoot: f.rootPem });
        return { ok: true, verdict: JSON.stringify([v.status, v.advisoryIds, v.report.raw.toString('hex')]) };
      } catch (e) {
        assert.notEqual(codeOf(e), 'internal_error', `input produced internal_error: ${(e as Error)?.stack ?? String(e)}`);
        assert.ok(e instanceof VerificationError, `non-typed error: ${(e as Error)?.stack ?? String(e)}`);
        assert.ok((VERIFICATION_CODES as readonly string[]).includes(e.code), `unknown code ${e.code}`);
        return { ok: false, code: e.code };
      }
    };
    const original = run(f.quote);
    assert.equal(original.ok, true);

    // The declared data ends before any zero padding the buffer carries (S2 has 70 bytes of it).
    const parsed = parseQuote(f.quote);
    const end = parsed.signedBytes.length + 4 + f.quote.readUInt32LE(parsed.signedBytes.length);

    it(`${f.name}: every truncation is a typed rejection, short of the zero padding`, () => {
      for (let len = 0; len < f.quote.length; len++) {
        const out = run(f.quote.subarray(0, len));
        if (len < end) assert.equal(out.ok, false, `truncation to ${len} bytes verified`);
        else assert.deepEqual(out, original, `cutting padding to ${len} bytes changed the verdict`);
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

// The same properties on the simulator's quotes and collateral: they run everywhere (no ../shared needed).
// SGX v3, and TDX v4 (TD report 1.0) and v5 (TD report 1.5).
for (const kind of ['SGX v3', 'TDX v4', 'TDX v5 TD 1.5'] as const)
describe(`fuzzing simulated quotes and collateral (${kind})`, () => {
  const at = new Date();
  let pki: SimPki;
  let quote: Buffer;
  let collateral: Collateral;
  before(async () => {
    pki = await SimPki.create();
    const platform = await pki.platform({});
    const tdx = kind !== 'SGX v3';
    quote = makeQuote({ platform, ...(kind === 'TDX v4' ? { version: 4, td: {} } : kind === 'TDX v5 TD 1.5' ? { version: 5, td: { version: '1.5' } } : {}) });
    collateral = await makeCollateral(pki, { platform, at, ...(tdx ? { tee: 'TDX' } : {}) });
  });
  const run = (q: Buffer, c: Collateral | (() => Collateral)): string => {
    try {
      const v = verifyQuote(q, typeof c === 'function' ? c() : c, { at, trustedRoot: pki.rootPem });
      return `ok:${v.status}`;
    } catch (e) {
      assert.notEqual(codeOf(e), 'internal_error', `input produced internal_error: ${(e as Error)?.stack ?? String(e)}`);
      assert.ok(e instanceof VerificationError, `non-typed error: ${(e as Error)?.stack ?? String(e)}`);
      return e.code;
    }
  };

  it('truncations and 2000 bit flips of a quote are typed rejections or the same verdict', () => {
    assert.equal(run(quote, collateral), 'ok:UpToDate');
    for (let len = 0; len < quote.length; len += 7) assert.notEqual(run(quote.subarray(0, len), collateral), 'ok:UpToDate');
    const rand = prng(0xc0ffee);
    for (let i = 0; i < 2000; i++) {
      const q = Buffer.from(quote);
      q[Math.floor(rand() * q.length)]! ^= 1 << Math.floor(rand() * 8);
      run(q, collateral);
    }
  });

  it('1000 mutations of the collateral JSON are typed rejections or the same verdict', () => {
    const text = JSON.stringify(collateralToJson(collateral));
    const rand = prng(0xbadc0de);
    for (let i = 0; i < 1000; i++) {
      const chars = [...text];
      const pos = Math.floor(rand() * chars.length);
      const r = rand();
      if (r < 0.4) chars[pos] = String.fromCharCode(32 + Math.floor(rand() * 95));
      else if (r < 0.7) chars.splice(pos, 1 + Math.floor(rand() * 40));
      else chars.splice(pos, 0, '0');
      run(quote, () => {
        try {
          return parseCollateralJson(chars.join(''));
        } catch (e) {
          assert.ok(e instanceof VerificationError, `non-typed collateral error: ${(e as Error)?.stack ?? String(e)}`);
          throw e;
        }
      });
    }
  });
});
