// The sim Intel SGX PKI: root CA, Processor CA, Platform CA and TCB Signing, with their private keys.
// Pure: serialises to and from a JSON object; callers do the file I/O.
import { X509Certificate } from 'node:crypto';
import type { PckCaKind } from '../dcap/types.ts';
import {
  issueIntelCert,
  issueIntelCrl,
  simCaFrom,
  type CaRole,
  type CertOverrides,
  type CrlOverrides,
  type SimCa,
} from './certs.ts';
import { INTEL_CN, ROOT_CRL_URL } from './intel-names.ts';
import { keyIdentifier, newP256Key, privateKeyFromPem, privateKeyToPem, signRaw } from './keys.ts';
import { issuePlatform, type PlatformOptions, type SimPlatform } from './platform.ts';
import type { KeyObject } from 'node:crypto';

const DAY = 86_400_000;
const YEAR = 365 * DAY;
/** Intel's root is valid until the last moment UTCTime can express. */
const ROOT_NOT_AFTER = new Date('2049-12-31T23:59:59Z');

export interface SimPkiOptions {
  /** Base time: certificates become valid one day before it (default: now). */
  at?: Date;
  root?: CertOverrides;
  processorCa?: CertOverrides;
  platformCa?: CertOverrides;
  tcbSigning?: CertOverrides;
}

interface CaJson {
  certificate: string; // PEM
  privateKey: string; // PKCS#8 PEM
}

export interface SimPkiJson {
  format: 'warden-sim-pki';
  version: 1;
  root: CaJson;
  processorCa: CaJson;
  platformCa: CaJson;
  tcbSigning: CaJson;
}

export class SimPkiFormatError extends Error {
  override name = 'SimPkiFormatError';
}

/**
 * A CA key whose key identifier (Intel's CA serial numbers are their key identifiers) has no leading zero
 * byte: DER would drop it from the serial, and the certificate would no longer have Intel's shape.
 */
function newCaKey(): KeyObject {
  for (;;) {
    const key = newP256Key();
    if (keyIdentifier(key)[0] !== 0) return key;
  }
}

function floorSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

const ROLE_CN: Record<CaRole, string> = {
  root: INTEL_CN.root,
  processor: INTEL_CN.processor,
  platform: INTEL_CN.platform,
  tcbSigning: INTEL_CN.tcbSigning,
};

const ROLE_YEARS: Record<Exclude<CaRole, 'root'>, number> = { processor: 15, platform: 15, tcbSigning: 7 };

async function makeRoot(base: Date, key: KeyObject, ov: CertOverrides = {}): Promise<SimCa> {
  const k = ov.privateKey ?? key;
  const { der } = await issueIntelCert({
    cn: ROLE_CN.root,
    issuer: undefined,
    privateKey: k,
    notBefore: new Date(base.getTime() - DAY),
    notAfter: ROOT_NOT_AFTER,
    crlUrl: ROOT_CRL_URL,
    ca: true,
    pathLength: 1,
    overrides: ov,
  });
  return simCaFrom('root', der, k);
}

async function makeUnderRoot(
  role: Exclude<CaRole, 'root'>,
  root: SimCa,
  base: Date,
  key: KeyObject,
  ov: CertOverrides = {},
): Promise<SimCa> {
  const k = ov.privateKey ?? key;
  const ca = role !== 'tcbSigning';
  const notBefore = new Date(base.getTime() - DAY);
  const { der } = await issueIntelCert({
    cn: ROLE_CN[role],
    issuer: root,
    privateKey: k,
    notBefore,
    notAfter: new Date(notBefore.getTime() + ROLE_YEARS[role] * YEAR),
    crlUrl: ROOT_CRL_URL,
    ca,
    ...(ca ? { pathLength: 0 } : {}),
    overrides: ov,
  });
  return simCaFrom(role, der, k);
}

export class SimPki {
  readonly root: SimCa;
  readonly processorCa: SimCa;
  readonly platformCa: SimCa;
  readonly tcbSigning: SimCa;
  private readonly platforms = new Map<string, Promise<SimPlatform>>();

  private constructor(cas: { root: SimCa; processorCa: SimCa; platformCa: SimCa; tcbSigning: SimCa }) {
    this.root = cas.root;
    this.processorCa = cas.processorCa;
    this.platformCa = cas.platformCa;
    this.tcbSigning = cas.tcbSigning;
  }

  static async create(opts: SimPkiOptions = {}): Promise<SimPki> {
    const base = floorSeconds(opts.at ?? new Date());
    const root = await makeRoot(base, newCaKey(), opts.root);
    const [processorCa, platformCa, tcbSigning] = await Promise.all([
      makeUnderRoot('processor', root, base, newCaKey(), opts.processorCa),
      makeUnderRoot('platform', root, base, newCaKey(), opts.platformCa),
      makeUnderRoot('tcbSigning', root, base, newCaKey(), opts.tcbSigning),
    ]);
    return new SimPki({ root, processorCa, platformCa, tcbSigning });
  }

  static fromJSON(json: unknown): SimPki {
    if (typeof json !== 'object' || json === null) throw new SimPkiFormatError('sim PKI: not a JSON object');
    const j = json as Partial<Record<string, unknown>>;
    if (j['format'] !== 'warden-sim-pki' || j['version'] !== 1) {
      throw new SimPkiFormatError('sim PKI: unknown format (want format "warden-sim-pki", version 1)');
    }
    const load = (field: 'root' | 'processorCa' | 'platformCa' | 'tcbSigning', role: CaRole): SimCa => {
      const v = j[field] as Partial<CaJson> | undefined;
      if (typeof v?.certificate !== 'string' || typeof v.privateKey !== 'string') {
        throw new SimPkiFormatError(`sim PKI: ${field} needs "certificate" and "privateKey" PEM strings`);
      }
      try {
        const key = privateKeyFromPem(v.privateKey);
        const cert = new X509Certificate(v.certificate);
        if (!cert.checkPrivateKey(key)) throw new Error('certificate and private key do not match');
        return simCaFrom(role, cert.raw, key);
      } catch (e) {
        throw new SimPkiFormatError(`sim PKI: ${field}: ${(e as Error).message}`);
      }
    };
    return new SimPki({
      root: load('root', 'root'),
      processorCa: load('processorCa', 'processor'),
      platformCa: load('platformCa', 'platform'),
      tcbSigning: load('tcbSigning', 'tcbSigning'),
    });
  }

  toJSON(): SimPkiJson {
    const ca = (c: SimCa): CaJson => ({ certificate: c.pem, privateKey: privateKeyToPem(c.privateKey) });
    return {
      format: 'warden-sim-pki',
      version: 1,
      root: ca(this.root),
      processorCa: ca(this.processorCa),
      platformCa: ca(this.platformCa),
      tcbSigning: ca(this.tcbSigning),
    };
  }

  get rootPem(): string {
    return this.root.pem;
  }

  ca(kind: PckCaKind): SimCa {
    return kind === 'processor' ? this.processorCa : this.platformCa;
  }

  byRole(role: CaRole): SimCa {
    switch (role) {
      case 'root':
        return this.root;
      case 'processor':
        return this.processorCa;
      case 'platform':
        return this.platformCa;
      case 'tcbSigning':
        return this.tcbSigning;
    }
  }

  /**
   * A copy of this PKI with one certificate re-issued (same key unless overridden), e.g. an expired
   * intermediate or a TCB Signing certificate with another serial. Re-issuing the root keeps the
   * other certificates, which still chain to it when the key is kept.
   */
  async reissue(role: CaRole, overrides: CertOverrides, at: Date = new Date()): Promise<SimPki> {
    const base = floorSeconds(at);
    const cur = this.byRole(role);
    const next =
      role === 'root'
        ? await makeRoot(base, cur.privateKey, overrides)
        : await makeUnderRoot(role, this.root, base, cur.privateKey, overrides);
    return new SimPki({
      root: role === 'root' ? next : this.root,
      processorCa: role === 'processor' ? next : this.processorCa,
      platformCa: role === 'platform' ? next : this.platformCa,
      tcbSigning: role === 'tcbSigning' ? next : this.tcbSigning,
    });
  }

  /**
   * A platform with a PCK leaf issued by the Processor or Platform CA. Cached per option set in this
   * PKI instance (unless leaf overrides are given), so repeated quotes come from the same platform.
   */
  platform(opts: PlatformOptions = {}, at: Date = new Date()): Promise<SimPlatform> {
    const notBefore = new Date(floorSeconds(at).getTime() - DAY);
    const make = () =>
      issuePlatform(opts, this.ca(opts.ca ?? 'processor'), this.root, {
        notBefore,
        notAfter: new Date(notBefore.getTime() + 7 * YEAR),
      });
    if (opts.leaf) return make();
    const key = JSON.stringify(opts);
    let p = this.platforms.get(key);
    if (!p) {
      p = make();
      this.platforms.set(key, p);
      p.catch(() => this.platforms.delete(key));
    }
    return p;
  }

  /** Root CA CRL (DER): thisUpdate a day before `at`, next update a year and two weeks later, as Intel's. */
  rootCrl(ov: CrlOverrides = {}, at: Date = new Date()): Promise<Buffer> {
    const thisUpdate = new Date(floorSeconds(at).getTime() - DAY);
    return issueIntelCrl(this.root, { thisUpdate, nextUpdate: new Date(thisUpdate.getTime() + 379 * DAY) }, ov);
  }

  /** PCK CRL (DER) of the Processor or Platform CA: monthly, as Intel's. */
  pckCrl(kind: PckCaKind, ov: CrlOverrides = {}, at: Date = new Date()): Promise<Buffer> {
    const thisUpdate = new Date(floorSeconds(at).getTime() - DAY);
    return issueIntelCrl(this.ca(kind), { thisUpdate, nextUpdate: new Date(thisUpdate.getTime() + 30 * DAY) }, ov);
  }

  /** Sign exact JSON text the way Intel signs TCB Info and QE Identity (default key: TCB Signing). */
  signJson(text: string, key: KeyObject = this.tcbSigning.privateKey): Buffer {
    return signRaw(Buffer.from(text, 'utf8'), key);
  }

  /** PEM issuer chain for signed collateral: signer first, root last. */
  chain(role: CaRole): string {
    return role === 'root' ? this.root.pem : this.byRole(role).pem + this.root.pem;
  }
}
