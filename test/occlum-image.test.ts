// The Occlum instance template (occlum-image/): Occlum.json and the init configuration match their
// documented structure, the metadata is what an example policy expects, and the init refuses bad configs.
// The built inits are what Occlum can start: PIEs with an interpreter, and for the default initfs a musl
// PIE that needs nothing but libc.so; build.sh packs nothing else.
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { parsePolicyText } from '../src/policy/parse.ts';
import { createDevCerts } from '../src/server/dev-certs.ts';
import { BUILD_TIMEOUT_MS, GLIBC, IMAGE_DIR, MUSL, REPO, buildOcclumImage } from './occlum-helpers.ts';

const INIT_BIN = GLIBC.init; // the configuration checks are the same code in both builds

const ajv = new Ajv({ allErrors: true, strict: false });
const readJson = (p: string): unknown => JSON.parse(readFileSync(p, 'utf8'));
const occlumSchema = ajv.compile(readJson(join(IMAGE_DIR, 'schema', 'occlum.schema.json')) as object);
const configSchema = ajv.compile(readJson(join(IMAGE_DIR, 'schema', 'init-config.schema.json')) as object);

interface OcclumJson {
  metadata: { product_id: number; version_number: number; debuggable: boolean };
}

const tmp = mkdtempSync(join(os.tmpdir(), 'warden-occlum-image-'));
const caFile = join(tmp, 'certs', 'ca.pem'); // created in before()
const hpkeKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }).subarray(-65).toString('base64');

function render(extra: string[] = []): Record<string, unknown> {
  const out = execFileSync('node', [join(IMAGE_DIR, 'render-config.mjs'), '--url', 'https://warden.example:8443', '--hpke', hpkeKey, '--secret', 'payments-image-key', ...extra], { encoding: 'utf8' });
  return JSON.parse(out) as Record<string, unknown>;
}

function check(config: unknown) {
  const file = join(tmp, `config-${crypto.randomUUID()}.json`);
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
  return spawnSync(INIT_BIN, ['--check', file], { encoding: 'utf8' });
}

describe('occlum-image template', () => {
  before(async () => {
    buildOcclumImage();
    assert.equal((await createDevCerts(join(tmp, 'certs'), ['warden.example'])).caCert, caFile);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('Occlum.json has the documented structure: encrypted unionfs root, not debuggable', () => {
    const occlum = readJson(join(IMAGE_DIR, 'Occlum.json'));
    assert.ok(occlumSchema(occlum), JSON.stringify(occlumSchema.errors));
    const broken = structuredClone(occlum) as OcclumJson;
    broken.metadata.debuggable = true;
    assert.equal(occlumSchema(broken), false, 'the schema must refuse a debuggable enclave');
  });

  it('its product_id and version_number are accepted by an example policy in policies/', () => {
    const { metadata } = readJson(join(IMAGE_DIR, 'Occlum.json')) as OcclumJson;
    const files = readdirSync(join(REPO, 'policies')).filter((f) => f.endsWith('.yaml'));
    const matching = files.flatMap((f) => {
      const { policy } = parsePolicyText(f, readFileSync(join(REPO, 'policies', f), 'utf8'));
      if (!policy || policy.debug !== 'deny') return [];
      return policy.match.filter((m) => m.mrSigner !== undefined && m.isvProdId === metadata.product_id && (m.minIsvSvn ?? 0) <= metadata.version_number).map(() => f);
    });
    assert.ok(matching.length > 0, `no policy matches ISVPRODID ${metadata.product_id} / ISVSVN ${metadata.version_number}`);
  });

  it('the rendered init configuration matches its schema and the init accepts it', () => {
    const config = render(['--extra', 'payments-db-password:/etc/app/db-password:0400']);
    assert.ok(configSchema(config), JSON.stringify(configSchema.errors));
    const r = check({ ...config, caFile });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /config ok: https:\/\/warden\.example:8443, root key secret 'payments-image-key', 1 further secret/);
    // The id the init will name in its attest request, as `warden admin keys show` lists the key.
    const id = crypto.createHash('sha256').update(Buffer.from(config['serverHpkePublicKey'] as string, 'base64')).digest('hex');
    assert.match(r.stdout, new RegExp(`, pinned server key ${id}\n$`));
  });

  it('the unrendered template cannot boot: its placeholder HPKE key is refused', () => {
    const template = readJson(join(IMAGE_DIR, 'warden-init.json'));
    assert.ok(configSchema(template), JSON.stringify(configSchema.errors));
    const r = check({ ...(template as object), caFile });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'warden-init: config: serverHpkePublicKey must be base64 of an uncompressed P-256 point (65 bytes)\n');
  });

  const base = () => ({ ...render(), caFile });
  // The fourth field: false where only the init can tell (port range, file existence, uniqueness).
  const refusals: [string, unknown, RegExp, boolean?][] = [
    ['plain http', { ...base(), url: 'http://warden.example' }, /url must start with https:\/\//],
    ['user info in the url', { ...base(), url: 'https://user@warden.example' }, /user info, query or fragment/],
    ['a port out of range', { ...base(), url: 'https://warden.example:70000' }, /bad port/, false],
    ['an unknown member', { ...base(), insecure: true }, /unknown member/],
    ['a missing member', { ...base(), rootfsKeySecret: undefined }, /missing "rootfsKeySecret"/],
    ['a truncated HPKE key', { ...base(), serverHpkePublicKey: hpkeKey.slice(0, 40) }, /serverHpkePublicKey/],
    ['a missing CA file', { ...base(), caFile: join(tmp, 'nope.pem') }, /caFile .* is not readable/, false],
    ['a CA file without a certificate', { ...base(), caFile: join(IMAGE_DIR, 'Occlum.json') }, /caFile .* holds no usable PEM certificate/, false],
    ['a secret path with ..', { ...base(), secrets: [{ name: 'a', path: '/etc/../shadow' }] }, /absolute path without/],
    ['a relative secret path', { ...base(), secrets: [{ name: 'a', path: 'etc/a' }] }, /absolute path without/],
    ['a bad secret name', { ...base(), secrets: [{ name: 'a b', path: '/a' }] }, /name must be/],
    ['a bad mode', { ...base(), secrets: [{ name: 'a', path: '/a', mode: '777' }] }, /mode must be an octal string/],
    ['a repeated path', { ...base(), secrets: [{ name: 'a', path: '/a' }, { name: 'b', path: '/a' }] }, /repeats a name or path/, false],
    ['the root key repeated as a further secret', { ...base(), secrets: [{ name: 'payments-image-key', path: '/a' }] }, /repeats the root file system key/, false],
    ['a zero timeout', { ...base(), timeoutSeconds: 0 }, /timeoutSeconds/],
    ['not JSON', '{"url": ', /is not a JSON object/],
    ['a JSON array', '[]', /is not a JSON object/],
    ['deep nesting', '{"secrets":' + '['.repeat(100) + ']'.repeat(100) + '}', /is not a JSON object/],
  ];
  for (const [what, config, message, schemaCatches = true] of refusals) {
    it(`the init refuses a configuration with ${what}, in one line, exit 2`, () => {
      const r = check(config);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /^warden-init: config: [^\n]+\n$/);
      assert.match(r.stderr, message);
      if (typeof config !== 'string' && schemaCatches) assert.equal(configSchema(config), false, 'schema and init must agree');
    });
  }

  it('build.sh is valid bash', () => {
    execFileSync('bash', ['-n', join(IMAGE_DIR, 'build.sh')]);
  });
});

/** What `readelf -h -l -d` says about a binary (what Occlum's loader and the initfs care about). */
function elf(bin: string): { type: string; interpreter: string | undefined; needed: string[]; flags1: string } {
  const out = execFileSync('readelf', ['-h', '-l', '-d', bin], { encoding: 'utf8' });
  return {
    type: /^\s*Type:\s+(\S+)/m.exec(out)?.[1] ?? '',
    interpreter: /\[Requesting program interpreter: ([^\]]+)\]/.exec(out)?.[1],
    needed: [...out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1] ?? ''),
    flags1: /\(FLAGS_1\)\s+Flags: (.*)$/m.exec(out)?.[1] ?? '',
  };
}

describe('the glibc init', () => {
  before(() => buildOcclumImage(GLIBC), { timeout: BUILD_TIMEOUT_MS });

  it('is a PIE with glibc\'s loader, on the system OpenSSL (for the Ubuntu 22.04 image with copy_bom)', () => {
    const e = elf(GLIBC.init);
    assert.equal(e.type, 'DYN');
    assert.match(e.flags1, /\bPIE\b/);
    assert.equal(e.interpreter, '/lib64/ld-linux-x86-64.so.2');
    assert.ok(e.needed.includes('libssl.so.3') && e.needed.includes('libcrypto.so.3'), e.needed.join(' '));
    assert.match(execFileSync(GLIBC.init, ['--version'], { encoding: 'utf8' }), /^warden-init warden\/v1 \(glibc; OpenSSL 3\./);
  });
});

describe('the musl init (Occlum\'s default initfs)', { skip: MUSL.skip }, () => {
  const tmp = mkdtempSync(join(os.tmpdir(), 'warden-occlum-musl-'));
  const pinned = readFileSync(join(IMAGE_DIR, 'musl', 'openssl.version'), 'utf8').trim();
  before(() => buildOcclumImage(MUSL), { timeout: BUILD_TIMEOUT_MS });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('is a PIE whose interpreter is musl\'s loader and whose only NEEDED entry is libc.so', () => {
    const e = elf(MUSL.init);
    assert.equal(e.type, 'DYN', 'ET_DYN: Occlum refuses static executables');
    assert.match(e.flags1, /\bPIE\b/);
    assert.equal(e.interpreter, '/lib/ld-musl-x86_64.so.1');
    assert.deepEqual(e.needed, ['libc.so']);
  });

  it('carries OpenSSL 3 built from the pinned Debian source package, and the build records it', () => {
    const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\~]/g, '\\$&');
    const upstream = pinned.replace(/-.*$/, '');
    assert.match(upstream, /^3\./);
    const version = execFileSync(MUSL.init, ['--version'], { encoding: 'utf8' });
    assert.match(version, new RegExp(`^warden-init warden/v1 \\(musl; OpenSSL ${esc(upstream)} [^,]+, from Debian source package openssl ${esc(pinned)}\\)\n$`));
    const record = readFileSync(join(MUSL.dir, 'openssl', 'VERSION'), 'utf8');
    assert.match(record, new RegExp(`^source: Debian source package openssl ${esc(pinned)} \\(OpenSSL ${esc(upstream)}\\)$`, 'm'));
    for (const lib of ['libssl.a', 'libcrypto.a']) {
      const sum = crypto.createHash('sha256').update(readFileSync(join(MUSL.dir, 'openssl', lib))).digest('hex');
      assert.match(record, new RegExp(`^${esc(lib)} sha256: ${sum}$`, 'm'), `${lib} is the one recorded`);
    }
  });

  it('check-init.sh accepts it, and refuses a glibc binary, a static executable or a missing file in one line', () => {
    const check = (toolchain: string, bin: string) => spawnSync(join(IMAGE_DIR, 'check-init.sh'), [toolchain, bin], { encoding: 'utf8' });
    const ok = check('musl', MUSL.init);
    assert.equal(ok.status, 0, ok.stderr);
    const glibc = check('musl', GLIBC.init);
    assert.equal(glibc.status, 1);
    assert.match(glibc.stderr, /^check-init: [^\n]*: not a musl PIE: interpreter is \/lib64\/ld-linux-x86-64\.so\.2[^\n]*\n$/);
    writeFileSync(join(tmp, 'hello.c'), 'int main(void) { return 0; }\n');
    execFileSync('musl-gcc', ['-static', '-no-pie', '-o', join(tmp, 'static'), join(tmp, 'hello.c')]);
    const stat = check('musl', join(tmp, 'static'));
    assert.equal(stat.status, 1);
    assert.match(stat.stderr, /^check-init: [^\n]*: not a PIE \(ELF type is not ET_DYN[^\n]*\n$/);
    execFileSync('cc', ['-static-pie', '-o', join(tmp, 'static-pie'), join(tmp, 'hello.c')]); // musl-gcc's specs cannot make one
    const staticPie = check('musl', join(tmp, 'static-pie'));
    assert.equal(staticPie.status, 1);
    assert.match(staticPie.stderr, /^check-init: [^\n]*: has no program interpreter[^\n]*\n$/);
    const missing = check('musl', join(tmp, 'nope'));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^check-init: [^\n]*nope is missing: build it with 'make -C occlum-image musl'\n$/);
  });

  it('build.sh stops with one line when the musl init is missing or is not a musl PIE, before touching anything', () => {
    // A copy of occlum-image/ without a build, then with the glibc init where the musl one belongs.
    const image = join(tmp, 'occlum-image');
    mkdirSync(join(image, 'build', 'musl'), { recursive: true });
    for (const f of ['build.sh', 'check-init.sh']) copyFileSync(join(IMAGE_DIR, f), join(image, f));
    execFileSync('chmod', ['+x', join(image, 'build.sh'), join(image, 'check-init.sh')]);
    const run = () =>
      spawnSync('bash', [join(image, 'build.sh'), tmp, join(tmp, 'hello.c'), join(tmp, 'instance')], {
        cwd: tmp,
        encoding: 'utf8',
        env: { ...process.env, WARDEN_URL: 'https://127.0.0.1:9', WARDEN_CA: join(tmp, 'hello.c'), WARDEN_DATA: tmp },
      });
    const missing = run();
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^check-init: [^\n]*build\/musl\/warden-init is missing: build it with 'make -C occlum-image musl'\n$/);
    copyFileSync(GLIBC.init, join(image, 'build', 'musl', 'warden-init'));
    const foreign = run();
    assert.equal(foreign.status, 1);
    assert.match(foreign.stderr, /^check-init: [^\n]*: not a musl PIE: [^\n]*\n$/);
    assert.equal(missing.stdout + foreign.stdout, '');
    assert.deepEqual(readdirSync(tmp).filter((f) => f === 'instance'), [], 'no instance was created');
  });
});
