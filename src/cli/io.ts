// Shared CLI plumbing: argument parsing that turns every mistake into a one-line usage error.
import { parseArgs, type ParseArgsConfig } from 'node:util';

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

export type CommandRunner = (args: string[], io: Io) => Promise<number>;

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseFlags<O extends Options>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0] ?? 'bad arguments');
  }
}

export function requireFlag(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing required flag --${flag}`);
  return value;
}
