// TD report 1.0 (584 bytes) and 1.5 (648 bytes) as a TDX quote carries them (Intel's TDReport10/TDReport15
// in QuoteVerification/QuoteConstants.h; offsets in ../shared/docs/dcap-verification.md §2.2).
import { createHash } from 'node:crypto';

export const TD_REPORT10_SIZE = 584;
export const TD_REPORT15_SIZE = 648;

export interface TdReportFields {
  /** '1.5' adds TEE_TCB_SVN_2 and MRSERVICETD (default '1.0'). */
  version?: '1.0' | '1.5';
  teeTcbSvn?: Buffer | number[]; // 16: [0] module ISVSVN, [1] module major version, [2] late microcode SVN
  mrSeam?: Buffer; // 48
  mrSignerSeam?: Buffer; // 48 (zero for Intel's module)
  seamAttributes?: Buffer; // 8
  /** All 8 TD_ATTRIBUTES bytes; `debug` then sets or clears bit 0. */
  tdAttributes?: Buffer;
  debug?: boolean;
  xfam?: Buffer; // 8
  mrTd?: Buffer; // 48
  mrConfigId?: Buffer;
  mrOwner?: Buffer;
  mrOwnerConfig?: Buffer;
  rtmr0?: Buffer;
  rtmr1?: Buffer;
  rtmr2?: Buffer;
  rtmr3?: Buffer;
  reportData?: Buffer; // up to 64, zero-padded
  teeTcbSvn2?: Buffer | number[]; // 16, TD report 1.5 only
  mrServiceTd?: Buffer; // 48, TD report 1.5 only
}

const sha384 = (s: string): Buffer => createHash('sha384').update(s).digest();

/** A sim TD's defaults: a production TD (SEPT_VE_DISABLE set, DEBUG clear) of a current TDX 1.x module. */
export const SIM_TD = {
  teeTcbSvn: Buffer.from([5, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  mrSeam: sha384('warden-sim TDX module'),
  tdAttributes: Buffer.from('0000001000000000', 'hex'),
  xfam: Buffer.from('e702060000000000', 'hex'),
  mrTd: sha384('warden-sim td'),
  rtmr0: sha384('warden-sim td firmware'),
  rtmr1: sha384('warden-sim td kernel'),
  rtmr2: sha384('warden-sim td command line'),
} as const;

function put(buf: Buffer, off: number, len: number, v: Buffer | number[] | undefined, what: string): void {
  if (v === undefined) return;
  const b = Buffer.from(v);
  if (b.length > len) throw new Error(`${what} is longer than ${len} bytes`);
  b.copy(buf, off);
}

export function encodeTdReport(f: TdReportFields = {}): Buffer {
  const v15 = f.version === '1.5';
  const b = Buffer.alloc(v15 ? TD_REPORT15_SIZE : TD_REPORT10_SIZE);
  put(b, 0, 16, f.teeTcbSvn ?? SIM_TD.teeTcbSvn, 'TEE_TCB_SVN');
  put(b, 16, 48, f.mrSeam ?? SIM_TD.mrSeam, 'MRSEAM');
  put(b, 64, 48, f.mrSignerSeam, 'MRSIGNERSEAM');
  put(b, 112, 8, f.seamAttributes, 'SEAMATTRIBUTES');
  put(b, 120, 8, f.tdAttributes ?? SIM_TD.tdAttributes, 'TDATTRIBUTES');
  if (f.debug === true) b[120]! |= 0x01;
  if (f.debug === false) b[120]! &= ~0x01;
  put(b, 128, 8, f.xfam ?? SIM_TD.xfam, 'XFAM');
  put(b, 136, 48, f.mrTd ?? SIM_TD.mrTd, 'MRTD');
  put(b, 184, 48, f.mrConfigId, 'MRCONFIGID');
  put(b, 232, 48, f.mrOwner, 'MROWNER');
  put(b, 280, 48, f.mrOwnerConfig, 'MROWNERCONFIG');
  put(b, 328, 48, f.rtmr0 ?? SIM_TD.rtmr0, 'RTMR0');
  put(b, 376, 48, f.rtmr1 ?? SIM_TD.rtmr1, 'RTMR1');
  put(b, 424, 48, f.rtmr2 ?? SIM_TD.rtmr2, 'RTMR2');
  put(b, 472, 48, f.rtmr3, 'RTMR3');
  put(b, 520, 64, f.reportData, 'REPORTDATA');
  if (v15) {
    put(b, 584, 16, f.teeTcbSvn2 ?? f.teeTcbSvn ?? SIM_TD.teeTcbSvn, 'TEE_TCB_SVN_2');
    put(b, 600, 48, f.mrServiceTd, 'MRSERVICETD');
  }
  return b;
}
