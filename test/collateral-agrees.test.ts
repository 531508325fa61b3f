// Collateral validation (what the cache accepts from a PCCS) and the verifier run the same checks, so
// their verdicts agree: chain order, the time rule, the TCB Signing CN and date formats included. And
// collateral that verifies given as a file also verifies fetched from a PCCS, whatever order the PCCS
// sends its issuer chains in. (Each case below disagreed before validation called the dcap checks.)
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SourceError } from '../src/collateral/errors.ts';
import { fetchCollateralForQuote } from '../src/collateral/fetch.ts';
import { validateItem, anchorFromRoot } from '../src/collateral/validate.ts';
import { collateralToJson } from '../src/dcap/collateral-json.ts';
import { VerificationError } from '../src/dcap/errors.ts';
import type { Collateral } from '../src/dcap/types.ts';
import { verifyQuote } from '../src/dcap/verify.ts';
import { SimPki, makeCollateral, makeQuote, qeIdentityResponse, tcbInfoResponse, type CollateralOptions } from '../src/sim/index.ts';
import type { SimPlatform } from '../src/sim/platform.ts';
import { startPccsServer, type PccsServer } from '../src/sim/pccs-server.ts';
import { execFile } from 'node:child_process';
import { REPO_ROOT } from './helpers/fixtures.ts';

/** `warden` in a child process, without blocking this one (it serves the PCCS the child talks to). */
function warden(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, 'bin/warden.js'), ...args], { cwd: REPO_ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const reversed = (pem: string) => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? []).reverse().join('');

let pki: SimPki;
let platform: SimPlatform;
let quote: Buffer;
const at = new Date();

before(async () => {
  pki = await SimPki.create();
  platform = await pki.platform({ ca: 'processor' });
  quote = makeQuote({ platform });
});

type Verdict = 'ok' | string;

function verdictOf(fn: () => unknown): Verdict {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (e instanceof VerificationError || e instanceof SourceError) return e.code;
    throw e;
  }
}

describe('the cache and the verifier give one verdict on the same collateral', () => {
  const cases: Array<[string, () => Promise<CollateralOptions>]> = [
    ['as Intel serves it', async () => ({})],
    ['issuer chains root first', async () => ({ tcbInfoIssuerChain: reversed(pki.chain('tcbSigning')), qeIdentityIssuerChain: reversed(pki.chain('tcbSigning')) })],
    ['TCB Info issued two minutes after the verification time', async () => ({ tcbInfo: { issueDate: new Date(at.getTime() + 120_000), nextUpdate: new Date(at.getTime() + 30 * 86_400_000) } })],
    ['QE Identity issued two minutes after the verification time', async () => ({ qeIdentity: { issueDate: new Date(at.getTime() + 120_000), nextUpdate: new Date(at.getTime() + 30 * 86_400_000) } })],
    ['dates with a +00:00 offset instead of Z', async () => ({ tcbInfo: { issueDate: '2020-01-01T00:00:00+00:00', nextUpdate: new Date(at.getTime() + 86_400_000).toISOString().replace('Z', '+00:00') } })],
    ['TCB Info expired', async () => ({ tcbInfo: { issueDate: new Date(at.getTime() - 40 * 86_400_000), nextUpdate: new Date(at.getTime() - 1000) } })],
    [
      'signed by a certificate with the TCB Signing key but another CN',
      async () => {
        const other = await pki.reissue('tcbSigning', { subjectCn: 'Intel SGX Some Other Signing' });
        return { tcbInfoIssuerChain: other.chain('tcbSigning'), qeIdentityIssuerChain: other.chain('tcbSigning') };
      },
    ],
  ];

  for (const [what, options] of cases) {
    it(what, async () => {
      const c: Collateral = await makeCollateral(pki, { platform, at, ...(await options()) });
      const anchor = anchorFromRoot(pki.rootPem);
      const byVerifier = verdictOf(() => verifyQuote(quote, c, { at, trustedRoot: pki.rootPem }));
      const tcb = verdictOf(() => validateItem({ kind: 'tcb_info', key: platform.fmspc.toString('hex') }, Buffer.from(tcbInfoResponse(c.tcbInfo, c.tcbInfoSignature)), c.tcbInfoIssuerChain, anchor, at));
      const qe = verdictOf(() => validateItem({ kind: 'qe_identity', key: '' }, Buffer.from(qeIdentityResponse(c.qeIdentity, c.qeIdentitySignature)), c.qeIdentityIssuerChain, anchor, at));
      const byCache = tcb !== 'ok' ? tcb : qe;
      assert.equal(byCache, byVerifier, `cache says ${byCache} (TCB Info ${tcb}, QE Identity ${qe}), verifier says ${byVerifier}`);
    });
  }
});

describe('collateral from a PCCS that sends its issuer chains root first', () => {
  let pccs: PccsServer;
  let proxy: http.Server;
  let url: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-order-'));

  before(async () => {
    pccs = await startPccsServer({ pki });
    // A PCCS of another make: same answers, every *-issuer-chain header with its certificates root first.
    proxy = http.createServer((req, res) => {
      http.get(`${pccs.url}${req.url}`, (up) => {
        const headers = { ...up.headers };
        for (const [name, value] of Object.entries(headers)) {
          if (name.endsWith('issuer-chain') && typeof value === 'string') headers[name] = encodeURIComponent(reversed(decodeURIComponent(value)));
        }
        res.writeHead(up.statusCode ?? 502, headers);
        up.pipe(res);
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((r) => proxy.close(r));
    await pccs.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('verifies as the same collateral given as a file does', async () => {
    const fetched = await fetchCollateralForQuote(quote, [url], { trustedRoot: pki.rootPem, at });
    assert.equal(verifyQuote(quote, fetched, { at, trustedRoot: pki.rootPem }).status, 'UpToDate');
    const file = await makeCollateral(pki, { platform, at });
    assert.equal(verifyQuote(quote, file, { at, trustedRoot: pki.rootPem }).status, 'UpToDate');
  });

  it('warden verify: --collateral and --pccs agree', async () => {
    const files = { quote: path.join(dir, 'q.bin'), coll: path.join(dir, 'c.json'), root: path.join(dir, 'root.pem') };
    fs.writeFileSync(files.quote, quote);
    fs.writeFileSync(files.coll, JSON.stringify(collateralToJson(await makeCollateral(pki, { platform, at }))));
    fs.writeFileSync(files.root, pki.rootPem);
    const viaFile = await warden(['verify', '--quote', files.quote, '--collateral', files.coll, '--root-ca', files.root, '--json']);
    const viaPccs = await warden(['verify', '--quote', files.quote, '--pccs', url, '--root-ca', files.root, '--json']);
    assert.equal(viaFile.status, 0, viaFile.stdout + viaFile.stderr);
    assert.equal(viaPccs.status, 0, viaPccs.stdout + viaPccs.stderr);
    assert.equal(JSON.parse(viaPccs.stdout).status, JSON.parse(viaFile.stdout).status);
  });
});
