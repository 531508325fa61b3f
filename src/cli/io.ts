// Shared CLI plumbing: flag tables that both parse and document a command, one-line usage errors
// (with a did-you-mean for a mistyped flag), and the error classes that decide the exit code.
import { parseArgs } from 'node:util';
import { WardenError, type ErrorCode } from '../protocol/errors.ts';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/** A mistake in how the command was called: exit 2 with one line. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * The command ran and was refused or failed: a file that already exists, a missing data directory.
 * Its code is one of the error table (src/protocol/errors.ts), which gives the exit status; it shows in
 * --json output.
 */
export class CliError extends WardenError {
  override name = 'CliError';
  constructor(code: ErrorCode, message: string) {
    super(code, message);
  }
}

/** A running server's refusal, relayed with the server's own code (which this CLI may not know): exit 1. */
export class RemoteError extends Error {
  override name = 'RemoteError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type CommandRunner = (args: string[], io: Io) => Promise<number>;

/** One flag: how node:util parseArgs reads it, plus what the help says about it. */
export interface FlagSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  /** The value's placeholder in the help (FILE, N, URL...). */
  arg?: string;
  help: string;
}
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** The help of one (sub-)command, printed by `-h`/`--help` and `warden help ...`. */
export interface CommandHelp {
  /** e.g. 'secret create NAME' (after 'warden '); one line per form of the command. */
  synopsis: string;
  summary: string;
  flags: FlagSpecs;
  /** Extra paragraphs after the flag list. */
  notes?: string;
}

export const JSON_FLAG = { json: { type: 'boolean', help: 'print one JSON object on stdout' } } as const satisfies FlagSpecs;

function flagLabel(name: string, f: FlagSpec): string {
  const short = f.short ? `-${f.short}, ` : '';
  return `${short}--${name}${f.type === 'string' ? ` ${f.arg ?? 'VALUE'}` : ''}${f.multiple ? ' ...' : ''}`;
}

const HELP_WIDTH = 100;

/** Word-wraps `text` to HELP_WIDTH columns, every line after the first indented by `indent`. */
function wrap(text: string, indent: number, first = indent): string[] {
  const out: string[] = [];
  let line = '';
  let room = HELP_WIDTH - first;
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > room) {
      out.push(line);
      line = word;
      room = HELP_WIDTH - indent;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out.map((l, i) => (i === 0 ? l : ' '.repeat(indent) + l));
}

export function renderHelp(h: CommandHelp): string {
  // A synopsis of several lines (several forms of one command) shows one 'warden ...' line per form.
  const forms = h.synopsis.split('\n').flatMap((form, i) => {
    const [first = '', ...rest] = wrap(`warden ${form}`, 7);
    return [(i === 0 ? 'usage: ' : '       ') + first, ...rest];
  });
  const lines = [...forms, '', ...wrap(h.summary, 0), '', 'options:'];
  const entries: Array<[string, string]> = Object.entries(h.flags).map(([n, f]) => [flagLabel(n, f), f.help]);
  entries.push(['-h, --help', 'show this help']);
  const width = Math.min(30, Math.max(...entries.map(([l]) => l.length)));
  for (const [label, help] of entries) {
    const text = wrap(help, width + 4);
    if (label.length > width) lines.push(`  ${label}`, ' '.repeat(width + 4) + text.join('\n'));
    else lines.push(`  ${label.padEnd(width)}  ${text.join('\n')}`);
  }
  if (h.notes) lines.push('', ...h.notes.split('\n').flatMap((p) => wrap(p, 0)));
  return lines.join('\n');
}

/** The help of a command with sub-commands: one line per sub-command. */
export function renderGroupHelp(name: string, summary: string, subs: Record<string, CommandHelp>, notes?: string): string {
  const lines = [`usage: warden ${name} <sub-command> [options]`, '', ...wrap(summary, 0), '', 'sub-commands:'];
  // Sub-commands named after the group ('token create' under 'admin token') are shown by their last word.
  const group = name.split(' ').slice(1).join(' ');
  const shown = Object.entries(subs).map(([s, h]) => [group && s.startsWith(`${group} `) ? s.slice(group.length + 1) : s, h.summary] as const);
  const width = Math.max(...shown.map(([s]) => s.length));
  for (const [s, summaryLine] of shown) lines.push(`  ${s.padEnd(width)}  ${wrap(summaryLine, width + 4).join('\n')}`);
  lines.push('', `'warden ${name} <sub-command> --help' lists each one's options.`);
  if (notes) lines.push('', ...notes.split('\n').flatMap((p) => wrap(p, 0)));
  return lines.join('\n');
}

/** Levenshtein distance, for did-you-mean suggestions (short strings only). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate, if it is close enough to be what was meant. */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(word) || word.startsWith(c) ? Math.abs(c.length - word.length) * 0.5 : editDistance(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

const didYouMean = (s: string | undefined, prefix = '') => (s ? ` (did you mean ${prefix}${s}?)` : '');

/** A sub-command that is not one of `subs`: one line naming them, with a suggestion. */
export function unknownSubcommand(command: string, sub: string, subs: Iterable<string>): UsageError {
  const list = [...subs];
  return new UsageError(`unknown sub-command '${sub}'${didYouMean(suggest(sub, list))}; try 'warden ${command} --help'`);
}

type ParseOptions = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

/**
 * node:util parseArgs over a flag table; every mistake becomes one UsageError line, an unknown flag
 * with the closest known one. `-h`/`--help` never reach here: main answers them first.
 */
export function parseFlags<O extends FlagSpecs>(args: string[], flags: O, allowPositionals = false) {
  const options: ParseOptions = {};
  for (const [name, f] of Object.entries(flags)) {
    options[name] = { type: f.type, ...(f.multiple ? { multiple: true } : {}), ...(f.short ? { short: f.short } : {}) };
  }
  try {
    return parseArgs({ args, options: options as O, allowPositionals, strict: true });
  } catch (e) {
    const err = e as Error & { code?: string };
    const msg = err.message.split('\n')[0] ?? 'bad arguments';
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const m = /Unknown option '(-{1,2})([^'=]+)/.exec(msg);
      const given = m?.[2] ?? '';
      const hint = m?.[1] === '--' ? suggest(given, Object.keys(flags)) : undefined;
      throw new UsageError(`unknown option '${m ? m[1] + given : msg}'${didYouMean(hint, '--')}`);
    }
    if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const m = /Unexpected argument '([^']*)'/.exec(msg);
      throw new UsageError(`unexpected argument '${m?.[1] ?? '?'}': this command takes only options`);
    }
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const m = /Option '(?:-\w, )?(--[\w-]+)/.exec(msg);
      if (m && / argument missing/.test(msg)) throw new UsageError(`option ${m[1]} needs a value`);
      if (m && /does not take an argument/.test(msg)) throw new UsageError(`option ${m[1]} takes no value`);
      if (m && /ambiguous/.test(msg)) throw new UsageError(`option ${m[1]} needs a value (to pass a value that starts with '-', write ${m[1]}=VALUE)`);
    }
    throw new UsageError(msg);
  }
}

export function requireFlag(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing required flag --${flag}`);
  return value;
}

/** For commands whose output is not a result (a long-running server): say so instead of ignoring --json. */
export function refuseJson(args: string[], command: string, why: string): void {
  if (args.includes('--json')) throw new UsageError(`${command} does not support --json: ${why}`);
}
