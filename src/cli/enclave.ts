// `warden enclave inspect FILE [--policy NAME [--secret S]...] [--json]`: read a signed enclave's SIGSTRUCT so
// operators never copy MRENCLAVE/MRSIGNER by hand.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { SECRET_NAME_RULE, isSecretName } from '../protocol/secret-name.ts';
import { extractSigstruct, parseSigstruct, SigstructError, type Sigstruct } from '../dcap/sigstruct.ts';
import { OCCLUM_DEFAULT_MRSIGNER } from '../policy/lint.ts';
import { POLICY_NAME } from '../policy/parse.ts';
import { CliError, JSON_FLAG, parseFlags, renderHelp, UsageError, unknownSubcommand, type CommandHelp, type Io } from './io.ts';

const INSPECT = {
  synopsis: 'enclave inspect FILE [--policy NAME [--secret NAME]... [--out FILE [--force]]] [--json]',
  summary:
    'read the SIGSTRUCT of a signed enclave (build/lib/libocclum-libos.signed.so, or a raw 1808-byte SIGSTRUCT): MRENCLAVE, MRSIGNER, ISVPRODID, ISVSVN, debug; refuses a bad signature (exit 1)',
  flags: {
    policy: { type: 'string', arg: 'NAME', help: 'print a policy file for this enclave, ready to edit' },
    secret: { type: 'string', multiple: true, arg: 'NAME', help: 'a secret the policy releases (default NAME-image-key)' },
    out: { type: 'string', arg: 'FILE', help: 'write the policy to FILE instead of stdout (only when inspect succeeds; an existing FILE is refused)' },
    force: { type: 'boolean', help: 'with --out: replace FILE' },
    ...JSON_FLAG,
  },
  notes: 'Try it without Occlum: warden sim enclave --out DIR writes a signed enclave.',
} as const satisfies CommandHelp;

const USAGE = `usage: warden ${INSPECT.synopsis}`;

export function help(): string {
  return renderHelp(INSPECT);
}
const MAX_ENCLAVE_BYTES = 512 * 1024 * 1024; // a signed LibOS is tens of MB; refuse absurd inputs

export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined) {
    io.err(help());
    return 2;
  }
  if (sub !== 'inspect') throw unknownSubcommand('enclave', sub, ['inspect']);
  const { values, positionals } = parseFlags(rest, INSPECT.flags, true);
  if (positionals.length !== 1) throw new UsageError(`expected exactly one FILE (${USAGE})`);
  const path = positionals[0] as string;
  if (values.policy !== undefined && values.json) throw new UsageError('--policy prints a YAML policy, not JSON: drop --json (or --policy)');
  if (values.out !== undefined && values.policy === undefined) throw new UsageError('--out only applies with --policy');
  if (values.force && values.out === undefined) throw new UsageError('--force only applies with --out');
  if (values.secret && values.policy === undefined) throw new UsageError('--secret only applies with --policy');
  if (values.policy !== undefined && !POLICY_NAME.test(values.policy)) {
    throw new UsageError(`--policy '${values.policy}': a policy name is lower-case letters, digits, . _ - (at most 64)`);
  }
  for (const s of values.secret ?? []) {
    if (!isSecretName(s)) throw new UsageError(`--secret '${s}': not a valid secret name (${SECRET_NAME_RULE})`);
  }

  const file = readInput(path);
  let s: Sigstruct;
  let where: string;
  try {
    const found = extractSigstruct(file);
    s = parseSigstruct(found.sigstruct);
    where = found.source === 'raw' ? 'raw SIGSTRUCT' : `SIGSTRUCT from .note.sgxmeta (metadata ${found.metadataVersion})`;
  } catch (e) {
    if (e instanceof SigstructError) {
      io.err(`warden enclave: ${path}: error ${e.code}: ${e.message}`);
      return 1;
    }
    throw e;
  }
  if (!s.signatureValid) {
    // The CPU would refuse to launch it, so its values must not become a policy.
    io.err(`warden enclave: ${path}: error signature_invalid: the SIGSTRUCT signature does not verify with its own key (corrupt or tampered file)`);
    return 1;
  }
  const defaultSigner = s.mrSigner.toString('hex') === OCCLUM_DEFAULT_MRSIGNER;

  if (values.policy !== undefined) {
    const yaml = policyYaml(s, values.policy, values.secret ?? [`${values.policy}-image-key`], path);
    if (values.out !== undefined) {
      // Written only now that the enclave was read: a failed inspect never empties a policy file.
      try {
        writeFileSync(values.out, yaml + '\n', { flag: values.force ? 'w' : 'wx' });
      } catch (e) {
        const c = (e as NodeJS.ErrnoException).code;
        if (c === 'EEXIST') throw new CliError('file_exists', `${values.out} already exists (pass --force to replace it)`);
        throw new CliError('write_failed', `cannot write ${values.out}: ${c ?? 'error'}`);
      }
      io.err(`wrote policy ${values.policy} to ${values.out}; check it with warden policy check`);
    } else {
      io.out(yaml);
    }
    if (defaultSigner) io.err(`warning: ${path} is signed with Occlum's default development key; rebuild with occlum build --sign-key before production`);
    return 0;
  }
  if (values.json) {
    io.out(JSON.stringify(describe(s, where)));
    return 0;
  }
  io.out(`file:         ${path} (${where})`);
  io.out(`mrenclave:    ${s.mrEnclave.toString('hex')}`);
  io.out(`mrsigner:     ${s.mrSigner.toString('hex')}`);
  io.out(`isvprodid:    ${s.isvProdId}`);
  io.out(`isvsvn:       ${s.isvSvn}`);
  io.out(`debug:        ${s.debugAllowed ? 'allowed (the signer lets it launch in debug mode; a policy with debug: deny refuses such launches)' : 'not allowed (release-only enclave)'}`);
  if (!s.isvFamilyId.equals(Buffer.alloc(16))) io.out(`isvfamilyid:  ${s.isvFamilyId.toString('hex')}`);
  if (!s.isvExtProdId.equals(Buffer.alloc(16))) io.out(`isvextprodid: ${s.isvExtProdId.toString('hex')}`);
  io.out(`attributes:   ${s.attributes.toString('hex')} (mask ${s.attributeMask.toString('hex')})`);
  io.out(`signed:       ${s.date}, signature valid`);
  if (defaultSigner) io.out(`warning:      MRSIGNER is Occlum's default development key (etc/template/Enclave.pem); anyone can sign with it`);
  return 0;
}

function readInput(path: string): Buffer {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new UsageError(`${path}: not a file`);
    size = st.size;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (size > MAX_ENCLAVE_BYTES) throw new UsageError(`${path}: larger than ${MAX_ENCLAVE_BYTES} bytes`);
  return readFileSync(path);
}

export function describe(s: Sigstruct, source: string): Record<string, unknown> {
  return {
    source,
    mrenclave: s.mrEnclave.toString('hex'),
    mrsigner: s.mrSigner.toString('hex'),
    isvprodid: s.isvProdId,
    isvsvn: s.isvSvn,
    debugAllowed: s.debugAllowed,
    attributes: s.attributes.toString('hex'),
    attributeMask: s.attributeMask.toString('hex'),
    miscSelect: s.miscSelect,
    miscMask: s.miscMask,
    isvfamilyid: s.isvFamilyId.toString('hex'),
    isvextprodid: s.isvExtProdId.toString('hex'),
    date: s.date,
    vendor: s.vendor,
    signatureValid: s.signatureValid,
    occlumDefaultSigner: s.mrSigner.toString('hex') === OCCLUM_DEFAULT_MRSIGNER,
  };
}

/** A ready policy file for this enclave: safe defaults, comments saying how to loosen each one deliberately. */
export function policyYaml(s: Sigstruct, name: string, secrets: string[], path: string): string {
  const zero16 = Buffer.alloc(16);
  const lines = [
    `# Policy for ${path}, generated by \`warden enclave inspect --policy ${name}\`.`,
    '# Check it with `warden policy check` and try it with `warden policy test` before deploying.',
    `name: ${name}`,
    'version: 1',
    'match:',
    '  # Pins this exact build. To accept future builds signed by the same key, delete the mrenclave line',
    '  # and raise min_isvsvn with every security fix.',
    `  - mrenclave: ${s.mrEnclave.toString('hex')}`,
    `    mrsigner: ${s.mrSigner.toString('hex')}`,
    `    isvprodid: ${s.isvProdId}`,
    `    min_isvsvn: ${s.isvSvn}`,
  ];
  if (!s.isvFamilyId.equals(zero16)) lines.push(`    isvfamilyid: ${s.isvFamilyId.toString('hex')}`);
  if (!s.isvExtProdId.equals(zero16)) lines.push(`    isvextprodid: ${s.isvExtProdId.toString('hex')}`);
  if (s.mrSigner.toString('hex') === OCCLUM_DEFAULT_MRSIGNER) {
    lines.push("  # WARNING: this MRSIGNER is Occlum's default development key; anyone can sign with it.");
  }
  lines.push(
    s.debugAllowed
      ? '# The signer allows debug launches (Occlum.json metadata.debuggable: true); this refuses them.'
      : '# The enclave is release-only (Occlum.json metadata.debuggable: false).',
    'debug: deny',
    'tcb:',
    '  statuses: [UpToDate]',
    'collateral:',
    '  max_age: 30d',
    'secrets:',
    ...secrets.map((x) => `  - ${x}`),
  );
  return lines.join('\n');
}
