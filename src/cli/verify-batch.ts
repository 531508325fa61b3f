// `warden verify --batch FILE|-`: many quotes verified in one process, one verdict line per input line.
// Each output line is exactly what `warden verify --json` prints for that line's inputs, plus its `id`,
// so a long-running process can be compared with fresh ones verdict for verdict.
import { createReadStream, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { parseCollateralJson } from '../dcap/collateral-json.ts';
import type { Collateral } from '../dcap/types.ts';
import { decodeQuoteBytes, parseAt } from './inputs.ts';
import { UsageError, type Io } from './io.ts';
import { rejectionToJson, verifySyncToJson, type VerifyJson } from './verdict.ts';

export interface BatchDefaults {
  /** Root CA file for lines that name none (relative to the working directory). */
  rootCa?: string;
  /** Verification time for lines that give none. */
  at?: string;
}

const LINE_FIELDS = new Set(['quote', 'collateral', 'rootCa', 'at', 'id']);

/** A line that cannot be verified as given: its own error line, and the batch goes on. */
class BadLine extends Error {}

/**
 * The same file read again is parsed again only when its bytes changed: a verdict never rests on what a
 * file held before. The Collateral object is then the same one, so the verifier's per-object work
 * (signatures, parsed CRLs) is done once per distinct collateral file.
 */
class FileCache<T> {
  private readonly entries = new Map<string, { bytes: Buffer; value: T }>();
  constructor(
    private readonly what: string,
    private readonly make: (bytes: Buffer) => T,
  ) {}
  get(file: string): T {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new BadLine(`cannot read ${this.what} file '${file}': ${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message}`);
    }
    const hit = this.entries.get(file);
    if (hit && hit.bytes.equals(bytes)) return hit.value;
    const value = this.make(bytes);
    if (this.entries.size >= 1000) this.entries.clear();
    this.entries.set(file, { bytes, value });
    return value;
  }
}

function readFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BadLine(`cannot read ${what} file '${file}': ${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message}`);
  }
}

interface Job {
  quote: string;
  collateral: string;
  rootCa: string | undefined;
  at: Date | undefined;
}

function pathField(obj: Record<string, unknown>, field: string, base: string, optional: boolean): string | undefined {
  const v = obj[field];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v === '') throw new BadLine(`"${field}" must be a file path (a non-empty string)`);
  return path.resolve(base, v);
}

function parseLine(obj: Record<string, unknown>, base: string): Job {
  const unknown = Object.keys(obj).find((k) => !LINE_FIELDS.has(k));
  if (unknown !== undefined) throw new BadLine(`unknown field "${unknown.slice(0, 40)}" (quote, collateral, rootCa, at, id)`);
  let at: Date | undefined;
  if (obj.at !== undefined) {
    if (typeof obj.at !== 'string') throw new BadLine('"at" must be an ISO 8601 time');
    try {
      at = parseAt(obj.at);
    } catch (e) {
      throw new BadLine((e as Error).message.replace('--at', '"at"'));
    }
  }
  return {
    quote: pathField(obj, 'quote', base, false)!,
    collateral: pathField(obj, 'collateral', base, false)!,
    rootCa: pathField(obj, 'rootCa', base, true),
    at,
  };
}

export async function runBatch(source: string, defaults: BatchDefaults, io: Io): Promise<number> {
  // Flags are checked before any line is read: a wrong flag is a usage error (exit 2), not N bad lines.
  const defaultAt = defaults.at !== undefined ? parseAt(defaults.at) : undefined;
  const defaultRoot = defaults.rootCa !== undefined ? path.resolve(defaults.rootCa) : undefined;
  if (defaultRoot !== undefined) {
    try {
      readFileSync(defaultRoot);
    } catch (e) {
      throw new UsageError(`cannot read root CA file '${defaults.rootCa}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  let input: Readable;
  let base: string;
  if (source === '-') {
    input = process.stdin;
    base = process.cwd();
  } else {
    try {
      readFileSync(source, { flag: 'r' }).length; // fail early and clearly on a missing or unreadable file
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(`cannot read batch file '${source}': ${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message}`);
    }
    input = createReadStream(source);
    base = path.dirname(path.resolve(source));
  }

  const collaterals = new FileCache<Collateral | Error>('collateral', (bytes) => {
    try {
      return parseCollateralJson(bytes.toString('utf8'));
    } catch (e) {
      return e as Error; // replayed for every line naming these same bytes
    }
  });
  const roots = new FileCache<Buffer>('root CA', (bytes) => bytes);

  let allVerified = true;
  const verdictOf = (line: string): VerifyJson & { id: unknown } => {
    let id: unknown = null;
    try {
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch {
        throw new BadLine(line.trim() === '' ? 'empty line' : 'not a JSON object');
      }
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new BadLine('not a JSON object');
      const rec = obj as Record<string, unknown>;
      id = rec.id ?? null;
      const job = parseLine(rec, base);
      const quoteBytes = decodeQuoteBytes(readFile(job.quote, 'quote'));
      const rootFile = job.rootCa ?? defaultRoot;
      const root = rootFile !== undefined ? roots.get(rootFile) : undefined;
      const collateral = (): Collateral => {
        const c = collaterals.get(job.collateral);
        if (c instanceof Error) throw c;
        return c;
      };
      return { id, ...verifySyncToJson(quoteBytes, collateral, job.at ?? defaultAt ?? new Date(), root) };
    } catch (e) {
      if (!(e instanceof BadLine)) throw e;
      return { id, ...rejectionToJson('invalid_batch_line', e.message, null) };
    }
  };

  // Lines are answered a chunk at a time: output goes out in few writes, yet a producer that waits
  // for each answer before sending the next line is answered at once.
  let rest = '';
  const answer = (lines: string[]): void => {
    if (!lines.length) return;
    const out: string[] = [];
    for (const raw of lines) {
      const v = verdictOf(raw.endsWith('\r') ? raw.slice(0, -1) : raw);
      if (!v.ok) allVerified = false;
      out.push(JSON.stringify(v));
    }
    io.out(out.join('\n'));
  };
  input.setEncoding('utf8');
  for await (const chunk of input as AsyncIterable<string>) {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    answer(parts);
  }
  if (rest !== '') answer([rest]);
  return allVerified ? 0 : 1;
}
