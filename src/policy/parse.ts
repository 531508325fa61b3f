// Parses one policy file (YAML text) into a Policy: schema validation with file and line, then normalisation.
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseAllDocuments, isMap, isSeq, isPair, isScalar, visit, type Document, type Node } from 'yaml';
import schema from './policy.schema.json' with { type: 'json' };
import { SECRET_NAME_RULE } from '../protocol/secret-name.ts';
import { parseDate, parseDuration } from './time.ts';
import { TD_IDENTITY_FIELDS, type AcceptableStatus, type AllowedAdvisory, type Identity, type Policy, type PolicyIssue, type SecretGrant, type TdIdentity } from './types.ts';

export const POLICY_SCHEMA: object = schema;
/** The policy-name rule, as the schema states it (one definition: the CLI checks --policy with it). */
export const POLICY_NAME = new RegExp(schema.properties.name.pattern);

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
const validateSchema = ajv.compile(schema);

/** Limits on untrusted input: a policy file is small; anything bigger is a mistake or an attack. */
const MAX_POLICY_BYTES = 256 * 1024;

/**
 * Policies nest four levels (policy, tcb, advisories, one advisory). Deeper nesting is a mistake or an attack on
 * the recursion of the YAML composer, the schema validator and toJS: it was reported as "Maximum call stack size exceeded".
 */
export const MAX_POLICY_DEPTH = 32;

export interface ParsedPolicy {
  policy: Policy | null;
  issues: PolicyIssue[];
  /** 1-based lines of selected places, keyed by dotted path ('debug', 'tcb.statuses.1', 'match.0.min_isvsvn'). */
  lines: Record<string, number>;
}

/** Plain-language messages for the schema's reusable definitions, instead of raw regexes. */
const DEFINITION_MESSAGES: Record<string, string> = {
  hex32: 'must be 64 hex characters (32 bytes)',
  hex16: 'must be 32 hex characters (16 bytes)',
  hex64: 'must be 128 hex characters (64 bytes)',
  hex48: 'must be 96 hex characters (48 bytes)',
  u16: 'must be an integer from 0 to 65535',
  date: 'must be a date YYYY-MM-DD or an ISO 8601 timestamp with zone',
  advisoryId: 'must be an Intel advisory ID such as INTEL-SA-00615',
  secretName: `must be a secret name: ${SECRET_NAME_RULE}`,
};

export function parsePolicyText(file: string, text: string): ParsedPolicy {
  const issues: PolicyIssue[] = [];
  const lines: Record<string, number> = {};
  if (text.length > MAX_POLICY_BYTES) {
    return { policy: null, issues: [{ code: 'too_large', file, message: `policy file is larger than ${MAX_POLICY_BYTES} bytes` }], lines };
  }
  const lc = new LineCounter();
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  } catch (e) {
    // The CST parser recurses once per compact block sequence ('- - - …'); thousands overflow the stack.
    if (e instanceof RangeError) return { policy: null, issues: [tooDeep(file, undefined)], lines };
    throw e;
  }
  const docList = Array.isArray(docs) ? docs : [];
  if (docList.length !== 1) {
    const first = docList[1];
    const line = first?.range ? lc.linePos(first.range[0]).line : undefined;
    const message = docList.length === 0 ? 'file holds no policy' : 'one policy per file: found several YAML documents';
    return { policy: null, issues: [{ code: 'yaml_syntax', file, ...(line ? { line } : {}), message }], lines };
  }
  const doc = docList[0] as Document.Parsed;
  // The composer reports its own stack overflow as RESOURCE_EXHAUSTION, once per node it could not build.
  const exhausted = doc.errors.find((e) => e.code === 'RESOURCE_EXHAUSTION');
  if (exhausted) {
    const pos = lc.linePos(exhausted.pos[0]);
    return { policy: null, issues: [tooDeep(file, pos)], lines };
  }
  for (const e of doc.errors) {
    const pos = lc.linePos(e.pos[0]);
    issues.push({ code: 'yaml_syntax', file, line: pos.line, column: pos.col, message: firstLine(e.message) });
  }
  if (issues.length > 0) return { policy: null, issues, lines };
  const deep = firstNodeDeeperThan(doc, MAX_POLICY_DEPTH);
  if (deep) return { policy: null, issues: [tooDeep(file, deep.range ? lc.linePos(deep.range[0]) : undefined)], lines };

  keepTextualScalars(doc);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 50 });
  } catch (e) {
    return { policy: null, issues: [{ code: 'yaml_syntax', file, message: firstLine((e as Error).message) }], lines };
  }
  const lineOf = (path: string[]): number | undefined => {
    const node = nodeAt(doc, path);
    return node?.range ? lc.linePos(node.range[0]).line : undefined;
  };

  if (!validateSchema(data)) {
    for (const err of simplify(validateSchema.errors ?? [])) issues.push(schemaIssue(file, doc, lc, err));
    return { policy: null, issues: dedupe(issues), lines };
  }

  const raw = data as unknown as RawPolicy;
  const rootLine = lineOf([]);
  const policy: Policy = {
    name: raw.name,
    version: raw.version,
    ...(raw.description !== undefined ? { description: raw.description } : {}),
    tee: raw.tee === 'tdx' ? 'TDX' : 'SGX',
    match: raw.tee === 'tdx' ? [] : (raw.match as RawIdentity[]).map((m, i) => normaliseIdentity(m, lineOf(['match', String(i)]))),
    tdMatch: raw.tee === 'tdx' ? (raw.match as RawTdIdentity[]).map((m, i) => normaliseTdIdentity(m, lineOf(['match', String(i)]))) : [],
    debug: raw.debug ?? 'deny',
    tcb: {
      statuses: raw.tcb?.statuses ?? ['UpToDate'],
      advisories: [],
    },
    collateral: {},
    secrets: [],
    source: { file, ...(rootLine ? { line: rootLine } : {}) },
  };

  // Semantic checks the schema cannot express: real calendar dates and no duplicates.
  const date = (value: string, path: string[]): Date | undefined => {
    const d = parseDate(value);
    if (!d) issues.push({ code: 'invalid_date', file, ...lineProp(lineOf(path)), message: `${path.join('.')}: '${value}' is not a valid date` });
    return d;
  };
  const seenAdvisories = new Set<string>();
  (raw.tcb?.advisories ?? []).forEach((a, i) => {
    const entry = typeof a === 'string' ? { id: a } : a;
    const line = lineOf(['tcb', 'advisories', String(i)]);
    if (seenAdvisories.has(entry.id)) {
      issues.push({ code: 'duplicate_advisory', file, ...lineProp(line), message: `tcb.advisories: ${entry.id} is listed twice` });
    }
    seenAdvisories.add(entry.id);
    const adv: AllowedAdvisory = { id: entry.id, ...lineProp(line) };
    if (entry.expires !== undefined) {
      const d = date(entry.expires, ['tcb', 'advisories', String(i), 'expires']);
      if (d) adv.expires = d;
    }
    policy.tcb.advisories.push(adv);
  });
  if (raw.tcb?.min_tcb_date !== undefined && date(raw.tcb.min_tcb_date, ['tcb', 'min_tcb_date'])) {
    policy.tcb.minTcbDate = raw.tcb.min_tcb_date;
  }
  if (raw.collateral?.max_age !== undefined) {
    policy.collateral = { maxAge: raw.collateral.max_age, maxAgeSeconds: parseDuration(raw.collateral.max_age) };
  }
  const seenSecrets = new Set<string>();
  raw.secrets.forEach((s, i) => {
    const grant: SecretGrant = typeof s === 'string' ? { name: s, versions: 'current' } : { name: s.name, versions: s.versions ?? 'current' };
    if (seenSecrets.has(grant.name)) {
      issues.push({ code: 'duplicate_secret', file, ...lineProp(lineOf(['secrets', String(i)])), message: `secrets: ${grant.name} is listed twice` });
    }
    seenSecrets.add(grant.name);
    policy.secrets.push(grant);
  });

  // Lines the linter points at.
  const put = (key: string, path: string[]) => {
    const l = lineOf(path);
    if (l) lines[key] = l;
  };
  put('debug', ['debug']);
  put('tcb.statuses', ['tcb', 'statuses']);
  policy.tcb.statuses.forEach((_, i) => put(`tcb.statuses.${i}`, ['tcb', 'statuses', String(i)]));
  (raw.match as Array<RawIdentity & RawTdIdentity>).forEach((m, i) => {
    put(`match.${i}`, ['match', String(i)]);
    if (m.min_isvsvn !== undefined) put(`match.${i}.min_isvsvn`, ['match', String(i), 'min_isvsvn']);
    if (m.mrsigner !== undefined) put(`match.${i}.mrsigner`, ['match', String(i), 'mrsigner']);
  });

  return issues.length > 0 ? { policy: null, issues, lines } : { policy, issues, lines };
}

const HEX_KEYS = new Set([
  'mrenclave', 'mrsigner', 'isvfamilyid', 'isvextprodid', 'configid',
  'mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'mrconfigid', 'mrowner', 'mrownerconfig', 'mrseam',
]);

/**
 * YAML reads an all-digit hex string such as 000…01 as a number (and loses digits). Hex fields, secret names and
 * non-integer versions are text: keep the characters the operator wrote.
 */
function keepTextualScalars(doc: Document.Parsed): void {
  const asText = (node: unknown) => {
    if (isScalar(node) && node.type === 'PLAIN' && typeof node.value === 'number' && typeof node.source === 'string') node.value = node.source;
  };
  visit(doc, {
    Pair(_, pair, path) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (HEX_KEYS.has(key)) asText(pair.value);
      if (key === 'name' && path.length > 2) asText(pair.value); // secrets: [{name: …}]
      if (key === 'version' && path.length <= 2 && isScalar(pair.value) && typeof pair.value.value === 'number' && !Number.isInteger(pair.value.value)) {
        asText(pair.value);
      }
      if (key === 'secrets' && isSeq(pair.value)) pair.value.items.forEach(asText);
    },
  });
}

interface RawIdentity {
  mrenclave?: string;
  mrsigner?: string;
  isvprodid?: number;
  min_isvsvn?: number;
  isvfamilyid?: string;
  isvextprodid?: string;
  configid?: string;
  min_configsvn?: number;
}

type RawTdIdentity = Partial<Record<(typeof TD_IDENTITY_FIELDS)[number][0], string>>;

interface RawPolicy {
  name: string;
  version: number | string;
  description?: string;
  tee?: 'sgx' | 'tdx';
  match: RawIdentity[] | RawTdIdentity[];
  debug?: 'deny' | 'allow';
  tcb?: {
    statuses?: AcceptableStatus[];
    advisories?: Array<string | { id: string; expires?: string; reason?: string }>;
    min_tcb_date?: string;
  };
  collateral?: { max_age?: string };
  secrets: Array<string | { name: string; versions?: 'current' | 'current+previous' }>;
}

function normaliseIdentity(m: RawIdentity, line: number | undefined): Identity {
  const id: Identity = {};
  if (m.mrenclave !== undefined) id.mrEnclave = m.mrenclave.toLowerCase();
  if (m.mrsigner !== undefined) id.mrSigner = m.mrsigner.toLowerCase();
  if (m.isvprodid !== undefined) id.isvProdId = m.isvprodid;
  if (m.min_isvsvn !== undefined) id.minIsvSvn = m.min_isvsvn;
  if (m.isvfamilyid !== undefined) id.isvFamilyId = m.isvfamilyid.toLowerCase();
  if (m.isvextprodid !== undefined) id.isvExtProdId = m.isvextprodid.toLowerCase();
  if (m.configid !== undefined) id.configId = m.configid.toLowerCase();
  if (m.min_configsvn !== undefined) id.minConfigSvn = m.min_configsvn;
  if (line) id.line = line;
  return id;
}

function normaliseTdIdentity(m: RawTdIdentity, line: number | undefined): TdIdentity {
  const id: TdIdentity = {};
  for (const [key, field] of TD_IDENTITY_FIELDS) if (m[key] !== undefined) id[field] = m[key]!.toLowerCase();
  if (line) id.line = line;
  return id;
}

function lineProp(line: number | undefined): { line?: number } {
  return line ? { line } : {};
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).trim();
}

function tooDeep(file: string, pos: { line: number; col: number } | undefined): PolicyIssue {
  return {
    code: 'too_deep',
    file,
    ...(pos ? { line: pos.line, column: pos.col } : {}),
    message: `nested more than ${MAX_POLICY_DEPTH} levels deep (a policy nests at most four)`,
  };
}

/** The first collection nested deeper than `max` levels (the top level is 1), found without recursion. */
function firstNodeDeeperThan(doc: Document.Parsed, max: number): Node | undefined {
  const stack: Array<[unknown, number]> = [[doc.contents, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth > max) return node as Node;
    for (const item of node.items) {
      if (isPair(item)) stack.push([item.key, depth + 1], [item.value, depth + 1]);
      else stack.push([item, depth + 1]);
    }
  }
  return undefined;
}

/** The YAML node at a JSON-pointer-like path of string segments. */
function nodeAt(doc: Document.Parsed, path: string[]): Node | undefined {
  let node: unknown = doc.contents;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === seg);
      node = pair?.value;
    } else if (isSeq(node)) {
      node = node.items[Number(seg)];
    } else {
      return undefined;
    }
  }
  return node as Node | undefined;
}

/** The key node of a property (so an unknown key points at its own line). */
function keyNodeAt(doc: Document.Parsed, path: string[], key: string): Node | undefined {
  const parent = nodeAt(doc, path);
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
  return pair?.key as Node | undefined;
}

function pointerSegments(instancePath: string): string[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * AJV reports every failed branch of oneOf/anyOf. Keep the errors that explain the input the operator wrote:
 * drop branch 'type' errors and the oneOf/anyOf summaries when a more specific error exists at or below the same place.
 */
function simplify(errors: ErrorObject[]): ErrorObject[] {
  const specific = errors.filter((e) => e.keyword !== 'type' && e.keyword !== 'oneOf' && e.keyword !== 'anyOf');
  const coveredBySpecific = (path: string) => specific.some((s) => s.instancePath === path || s.instancePath.startsWith(path + '/'));
  const out: ErrorObject[] = [];
  const branchAt = (path: string) => errors.some((x) => x.instancePath === path && (x.keyword === 'oneOf' || x.keyword === 'anyOf'));
  for (const e of errors) {
    // The if/then/else that picks the identity form by tee: its own error only says a branch failed.
    if (e.keyword === 'if') continue;
    const isIdentity = /^\/match\/\d+$/.test(e.instancePath);
    const at = (kw: string) => errors.some((x) => x.instancePath === e.instancePath && x.keyword === kw);
    if (isIdentity && e.keyword === 'anyOf') {
      // The no-wildcard rule gets its own message, unless the more precise mrsigner-without-isvprodid one applies.
      if (!at('dependencies')) out.push(e);
      continue;
    }
    if (isIdentity && e.keyword === 'required' && at('anyOf')) continue;
    if ((e.keyword === 'oneOf' || e.keyword === 'anyOf') && coveredBySpecific(e.instancePath)) continue;
    // A branch that failed on type only says the operator wrote the other form; the oneOf summary or a specific error says more.
    if (e.keyword === 'type' && branchAt(e.instancePath)) continue;
    out.push(e);
  }
  return out;
}

function schemaIssue(file: string, doc: Document.Parsed, lc: LineCounter, e: ErrorObject): PolicyIssue {
  const segs = pointerSegments(e.instancePath);
  const where = segs.length ? segs.join('.') : '(top level)';
  let node: Node | undefined = nodeAt(doc, segs);
  let message: string;
  let code = 'schema';
  const def = /#\/definitions\/(\w+)\//.exec(e.schemaPath)?.[1];
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      node = keyNodeAt(doc, segs, key) ?? node;
      message = `${segs.length ? where + ': ' : ''}unknown key '${key}'`;
      break;
    }
    case 'required': {
      const key = String((e.params as { missingProperty: string }).missingProperty);
      message = `${segs.length ? where + ': ' : ''}missing required key '${key}'`;
      break;
    }
    case 'dependencies': {
      message = `${where}: an identity with mrsigner must also name isvprodid (one signer signs many products)`;
      code = 'identity_incomplete';
      break;
    }
    case 'anyOf': {
      message = `${where}: an identity must name mrenclave, or mrsigner with isvprodid (tee: tdx: mrtd or mrconfigid); an identity without them would match any enclave`;
      code = 'identity_wildcard';
      break;
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map((v) => String(v)).join(', ');
      const extra = segs[0] === 'tcb' && segs[1] === 'statuses' ? ' (Revoked can never be accepted)' : '';
      message = `${where}: must be one of ${allowed}${extra}`;
      break;
    }
    case 'pattern':
      message = `${where}: ${def && DEFINITION_MESSAGES[def] ? DEFINITION_MESSAGES[def] : patternMessage(segs)}`;
      break;
    case 'minItems':
      message = segs[0] === 'match' && segs.length === 1 ? "match: must list at least one identity (an empty list never means 'anyone')" : `${where}: ${e.message ?? 'has too few items'}`;
      break;
    case 'oneOf':
      message = `${where}: ${oneOfMessage(segs)}`;
      break;
    default:
      message = `${where}: ${def && DEFINITION_MESSAGES[def] && (e.keyword === 'minimum' || e.keyword === 'maximum' || e.keyword === 'type') ? DEFINITION_MESSAGES[def] : e.message ?? 'is invalid'}`;
  }
  const pos = node?.range ? lc.linePos(node.range[0]) : undefined;
  return { code, file, ...(pos ? { line: pos.line, column: pos.col } : {}), message };
}

function patternMessage(segs: string[]): string {
  const key = segs[segs.length - 1];
  if (key === 'name') return 'must be lower-case letters, digits, . _ - (at most 64, starting with a letter or digit)';
  if (key === 'version') return 'must be an integer >= 1 or a short version string';
  if (key === 'max_age') return 'must be a number and a unit s, m, h, d or w (e.g. 7d), or an ISO 8601 duration (P7D)';
  return 'has the wrong format';
}

function oneOfMessage(segs: string[]): string {
  if (segs[0] === 'version') return 'must be an integer >= 1 or a short version string';
  if (segs[0] === 'secrets') return 'must be a secret name or {name, versions}';
  if (segs[0] === 'tcb') return 'must be an advisory ID or {id, expires}';
  return 'has the wrong form';
}

function dedupe(issues: PolicyIssue[]): PolicyIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.line}:${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
