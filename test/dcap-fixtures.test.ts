// Real quotes with real Intel collateral: Warden must give each case's verdict at its time.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseCollateralJson } from '../src/dcap/collateral-json.ts';
import { VerificationError } from '../src/dcap/errors.ts';
import { verifyQuote } from '../src/dcap/verify.ts';
import { reportToJson } from '../src/cli/verify.ts';
import { loadFixtures } from './helpers/fixtures.ts';
import { describeShared } from './helpers/shared.ts';

const fixtures = loadFixtures();

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof VerificationError, `expected a VerificationError, got ${String(e)}`);
    return e.code;
  }
  assert.fail('expected a rejection');
}

// Each rejected case with the code its notes give (expected.json says only ok: false). A newly added
// rejected case fails here until someone reads why it is rejected, instead of being assumed untrusted_root.
const REJECTED: Record<string, string> = {
  'X1-intel-synthetic': 'untrusted_root', // "Pinned to the real Intel root ... the PCK chain's root is not the pinned root"
};

describeShared('fixtures/dcap', 'shared DCAP fixtures', () => {
  it('finds the fixtures', () => assert.ok(fixtures.length >= 7));

  for (const f of fixtures) {
    const at = new Date(f.expected.at);
    const verify = (when: Date) => verifyQuote(f.quote, parseCollateralJson(f.collateralText), { at: when, trustedRoot: f.rootPem });

    it(`${f.name}: gives the expected verdict at ${f.expected.at}`, () => {
      if (!f.expected.ok) {
        const want = REJECTED[f.name];
        assert.ok(want, `${f.name} is rejected, and this test does not know why: read its notes and add it to REJECTED`);
        assert.equal(codeOf(() => verify(at)), want);
        return;
      }
      const v = verify(at);
      assert.equal(v.status, f.expected.status);
      assert.deepEqual(v.advisoryIds, f.expected.advisoryIds);
      assert.deepEqual(reportToJson(v.quote), f.expected.report);
      assert.equal(v.teeType, f.expected.report.teeType);
      if (v.teeType === 'TDX') {
        // S2: TEE_TCB_SVN 06 01 03: module major version 1, so TDX_01 decides the module (ISVSVN 6 >= 4: UpToDate).
        assert.deepEqual({ id: v.tdx.moduleIdentity, status: v.tdx.moduleStatus }, { id: 'TDX_01', status: 'UpToDate' });
      }
    });

    if (f.expected.ok) {
      it(`${f.name}: is rejected a minute after its collateral's earliest expiry`, () => {
        const v = verify(at);
        assert.ok(v.collateralExpiresAt.getTime() > at.getTime());
        const code = codeOf(() => verify(new Date(v.collateralExpiresAt.getTime() + 60_000)));
        assert.ok(['collateral_expired', 'certificate_expired'].includes(code), code);
      });

      it(`${f.name}: is rejected under the Intel root when its own root is not Intel's, else accepted`, () => {
        const collateral = parseCollateralJson(f.collateralText);
        if (f.name.includes('selfroot')) assert.equal(codeOf(() => verifyQuote(f.quote, collateral, { at })), 'untrusted_root');
        else assert.equal(verifyQuote(f.quote, collateral, { at }).intelRoot, true);
      });
    }
  }

  it('S9 is a debug enclave that verifies at the platform level', () => {
    const f = fixtures.find((x) => x.name.startsWith('S9'))!;
    const v = verifyQuote(f.quote, parseCollateralJson(f.collateralText), { at: new Date(f.expected.at) });
    assert.equal(v.report.debug, true);
  });

  it('TCB Info and QE Identity given as whole PCS response bodies verify the same', () => {
    const f = fixtures.find((x) => x.name.startsWith('S1'))!;
    const doc = JSON.parse(f.collateralText) as Record<string, string>;
    const bodies = {
      ...doc,
      tcb_info: `{"tcbInfo":${doc.tcb_info},"signature":"${doc.tcb_info_signature}"}`,
      qe_identity: `{"enclaveIdentity":${doc.qe_identity},"signature":"${doc.qe_identity_signature}"}`,
    };
    delete (bodies as Record<string, unknown>).tcb_info_signature;
    delete (bodies as Record<string, unknown>).qe_identity_signature;
    const v = verifyQuote(f.quote, parseCollateralJson(JSON.stringify(bodies)), { at: new Date(f.expected.at) });
    assert.equal(v.status, f.expected.status);
  });

  it('CRLs given as PEM verify the same', () => {
    const f = fixtures.find((x) => x.name.startsWith('S1'))!;
    const doc = JSON.parse(f.collateralText) as Record<string, string>;
    const pem = (hex: string) => `-----BEGIN X509 CRL-----\n${Buffer.from(hex, 'hex').toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END X509 CRL-----\n`;
    const v = verifyQuote(f.quote, parseCollateralJson(JSON.stringify({ ...doc, root_ca_crl: pem(doc.root_ca_crl!), pck_crl: pem(doc.pck_crl!) })), { at: new Date(f.expected.at) });
    assert.equal(v.status, f.expected.status);
  });

  it('a re-serialised (pretty-printed) TCB Info no longer verifies: the signature is over the exact bytes', () => {
    const f = fixtures.find((x) => x.name.startsWith('S1'))!;
    const doc = JSON.parse(f.collateralText) as Record<string, string>;
    const pretty = { ...doc, tcb_info: JSON.stringify(JSON.parse(doc.tcb_info!), null, 1) };
    assert.equal(codeOf(() => verifyQuote(f.quote, parseCollateralJson(JSON.stringify(pretty)), { at: new Date(f.expected.at) })), 'signature_invalid');
  });
});

describeShared('fixtures/dcap', 'collateral JSON variants', () => {
  it('accepts tcb_info / qe_identity as JSON objects (PCS bodies pasted in), verified over their exact bytes in the file', () => {
    const f = fixtures.find((x) => x.name.startsWith('S1'))!;
    const doc = JSON.parse(f.collateralText) as Record<string, string>;
    const { tcb_info, qe_identity, tcb_info_signature, qe_identity_signature, ...rest } = doc;
    const head = JSON.stringify(rest).slice(0, -1);
    const bodies = `${head},"tcb_info":{"tcbInfo":${tcb_info},"signature":"${tcb_info_signature}"},"qe_identity":{"enclaveIdentity":${qe_identity},"signature":"${qe_identity_signature}"}}`;
    const inner = `${head},"tcb_info":${tcb_info},"tcb_info_signature":"${tcb_info_signature}","qe_identity":${qe_identity},"qe_identity_signature":"${qe_identity_signature}"}`;
    for (const text of [bodies, inner]) {
      const v = verifyQuote(f.quote, parseCollateralJson(text), { at: new Date(f.expected.at) });
      assert.equal(v.status, f.expected.status);
    }
    // Re-formatting the file changes the signed bytes: the signature no longer verifies.
    const pretty = JSON.stringify(JSON.parse(bodies), null, 2);
    assert.equal(codeOf(() => verifyQuote(f.quote, parseCollateralJson(pretty), { at: new Date(f.expected.at) })), 'signature_invalid');
    assert.equal(codeOf(() => parseCollateralJson(`${head},"tcb_info":[1],"qe_identity":${qe_identity}}`)), 'malformed_collateral');
  });

  it('accepts CRLs and signatures as arrays of byte numbers (dcap-qvl JS form)', () => {
    const f = fixtures.find((x) => x.name.startsWith('S1'))!;
    const doc = JSON.parse(f.collateralText) as Record<string, string>;
    const arr = (hex: string) => [...Buffer.from(hex, 'hex')];
    const variant = { ...doc, root_ca_crl: arr(doc.root_ca_crl!), pck_crl: arr(doc.pck_crl!), tcb_info_signature: arr(doc.tcb_info_signature!), qe_identity_signature: arr(doc.qe_identity_signature!) };
    const v = verifyQuote(f.quote, parseCollateralJson(JSON.stringify(variant)), { at: new Date(f.expected.at) });
    assert.equal(v.status, f.expected.status);
    assert.equal(codeOf(() => parseCollateralJson(JSON.stringify({ ...variant, pck_crl: [1, 2, 300] }))), 'malformed_collateral');
  });
});
