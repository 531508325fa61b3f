// `warden serve` configuration: flags, their embedded defaults, and the checks that keep defaults closed.
import os from 'node:os';
import {
  ADMIN_RATE_BURST,
  ADMIN_RATE_PER_SECOND,
  HEADERS_TIMEOUT_SECONDS,
  KEEP_ALIVE_TIMEOUT_SECONDS,
  MAX_CONNECTIONS,
  MAX_CONNECTIONS_PER_ADDRESS,
  NONCE_TTL_SECONDS,
  RATE_BURST,
  RATE_PER_SECOND,
  REQUEST_TIMEOUT_SECONDS,
  TLS_CIPHERS,
  TLS_MIN_VERSION,
  TOKEN_TTL_SECONDS,
} from '../protocol/defaults.ts';
import { UsageError, parseFlags, type FlagSpecs } from './io.ts';
import { databaseUrl } from '../store/store.ts';

export interface ServeConfig {
  dev: boolean;
  http: boolean;
  host: string;
  port: number;
  dataDir: string;
  /** postgres://… for replicas sharing one PostgreSQL; undefined: SQLite in dataDir. */
  database?: string;
  policiesDir: string;
  pccs: string[];
  /** CA certificates (PEM files) trusted for TLS to a PCCS with its own certificate. */
  pccsCa: string[];
  rootCa?: string;
  simPkiDir: string;
  certsDir: string;
  tlsCert?: string;
  tlsKey?: string;
  masterKeyFile?: string;
  masterKeyEnv?: string;
  nonceTtlSeconds: number;
  tokenTtlSeconds: number;
  rateBurst: number;
  ratePerSecond: number;
  logLevel: string;
  trustProxy: boolean;
  /** Server processes (node:cluster) sharing the port and the database; 1 = no cluster. */
  workers: number;
  adminRateBurst: number;
  adminRatePerSecond: number;
  requestTimeoutSeconds: number;
  headersTimeoutSeconds: number;
  keepAliveTimeoutSeconds: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  tlsMinVersion: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list (TLS 1.2 ciphers and TLS 1.3 suites). */
  tlsCiphers: string;
  /** Accept a master key or TLS key file that other users can access (warn instead of refusing). */
  allowInsecureKeyPermissions: boolean;
}

export const SERVE_DEFAULTS = {
  port: 8443,
  dataDir: './data',
  policiesDir: './policies',
  certsDir: 'certs',
  nonceTtlSeconds: NONCE_TTL_SECONDS,
  tokenTtlSeconds: TOKEN_TTL_SECONDS,
  rateBurst: RATE_BURST,
  ratePerSecond: RATE_PER_SECOND,
  logLevel: 'info',
  workers: 1,
  adminRateBurst: ADMIN_RATE_BURST,
  adminRatePerSecond: ADMIN_RATE_PER_SECOND,
  requestTimeoutSeconds: REQUEST_TIMEOUT_SECONDS,
  headersTimeoutSeconds: HEADERS_TIMEOUT_SECONDS,
  keepAliveTimeoutSeconds: KEEP_ALIVE_TIMEOUT_SECONDS,
  maxConnections: MAX_CONNECTIONS,
  maxConnectionsPerAddress: MAX_CONNECTIONS_PER_ADDRESS,
  tlsMinVersion: TLS_MIN_VERSION,
  tlsCiphers: TLS_CIPHERS,
} as const;

/** Upper bound for --workers: more processes than this only add SQLite write contention. */
export const MAX_WORKERS = 64;

/** Every flag of `warden serve`: parsed from this table and listed by `warden serve --help` from it. */
export const SERVE_FLAGS = {
  dev: { type: 'boolean', help: 'development mode: trust the SIMULATED Intel root of DIR/sim-pki, make missing certificates and a master key, add the demo policy dev-demo and secret demo-sefs-key, print an admin token' },
  http: { type: 'boolean', help: 'plain HTTP (only behind a TLS-terminating proxy, or for tests)' },
  host: { type: 'string', arg: 'HOST', help: 'address to listen on (default 0.0.0.0; 127.0.0.1 with --dev)' },
  port: { type: 'string', arg: 'N', help: `port (default ${SERVE_DEFAULTS.port}, or $WARDEN_PORT; 0 picks a free one)` },
  data: { type: 'string', arg: 'DIR', help: 'data directory: database warden.db, and with --dev sim-pki/, master.key, dev-admin-token (default $WARDEN_DATA, else ./data)' },
  database: { type: 'string', arg: 'URL', help: 'a PostgreSQL database (postgres://...) shared by replicas, instead of SQLite in --data (default $WARDEN_DATABASE_URL)' },
  policies: { type: 'string', arg: 'DIR', help: `policy directory, one YAML file per policy (default ${SERVE_DEFAULTS.policiesDir})` },
  pccs: { type: 'string', multiple: true, arg: 'URL', help: 'collateral source (Intel PCS or a PCCS), repeatable, tried in order (default Intel PCS; with --dev the sim PKI)' },
  'pccs-ca': { type: 'string', multiple: true, arg: 'FILE', help: 'CA certificate (PEM) of a PCCS with its own TLS certificate (needs --pccs)' },
  'root-ca': { type: 'string', arg: 'FILE', help: "trust this root CA instead of Intel's (test PKIs; tokens then say warden.root = custom)" },
  'sim-pki': { type: 'string', arg: 'DIR', help: 'the simulated PKI for --dev (default DIR/sim-pki of --data)' },
  certs: { type: 'string', arg: 'DIR', help: `TLS files ca.pem, server.pem, server.key from \`warden certs init\` (default ${SERVE_DEFAULTS.certsDir})` },
  'tls-cert': { type: 'string', arg: 'FILE', help: 'server certificate chain (PEM), with --tls-key: your own PKI in production' },
  'tls-key': { type: 'string', arg: 'FILE', help: 'server private key (PEM), with --tls-cert' },
  'tls-min-version': { type: 'string', arg: 'TLSv1.2|TLSv1.3', help: `lowest TLS version accepted (default ${SERVE_DEFAULTS.tlsMinVersion})` },
  'tls-ciphers': { type: 'string', arg: 'LIST', help: 'OpenSSL cipher list (TLS 1.2 ciphers and TLS 1.3 suites; default: forward-secret AEAD suites only)' },
  'master-key-file': { type: 'string', arg: 'FILE', help: 'the master key (`warden admin master-key generate --out FILE`)' },
  'master-key-env': { type: 'string', arg: 'VAR', help: 'read the master key from this environment variable' },
  'nonce-ttl': { type: 'string', arg: 'S', help: `challenge lifetime in seconds (default ${SERVE_DEFAULTS.nonceTtlSeconds})` },
  'token-ttl': { type: 'string', arg: 'S', help: `result token lifetime in seconds (default ${SERVE_DEFAULTS.tokenTtlSeconds})` },
  'rate-burst': { type: 'string', arg: 'N', help: `per client address on challenge and attest: bucket size (default ${SERVE_DEFAULTS.rateBurst})` },
  'rate-per-second': { type: 'string', arg: 'N', help: `per client address: refill per second (default ${SERVE_DEFAULTS.ratePerSecond})` },
  'admin-rate-burst': { type: 'string', arg: 'N', help: `per client address on /v1/admin: bucket size (default ${SERVE_DEFAULTS.adminRateBurst})` },
  'admin-rate-per-second': { type: 'string', arg: 'N', help: `per client address on /v1/admin: refill per second (default ${SERVE_DEFAULTS.adminRatePerSecond})` },
  'request-timeout': { type: 'string', arg: 'S', help: `a whole request must arrive within S seconds (default ${SERVE_DEFAULTS.requestTimeoutSeconds})` },
  'headers-timeout': { type: 'string', arg: 'S', help: `request headers must arrive within S seconds (default ${SERVE_DEFAULTS.headersTimeoutSeconds}; at most --request-timeout)` },
  'keep-alive-timeout': { type: 'string', arg: 'S', help: `idle keep-alive connections close after S seconds (default ${SERVE_DEFAULTS.keepAliveTimeoutSeconds})` },
  'max-connections': { type: 'string', arg: 'N', help: `open connections at most (default ${SERVE_DEFAULTS.maxConnections})` },
  'max-connections-per-address': { type: 'string', arg: 'N', help: `open connections per client address at most (default ${SERVE_DEFAULTS.maxConnectionsPerAddress})` },
  'log-level': { type: 'string', arg: 'L', help: `fatal, error, warn, info, debug, trace or silent (default ${SERVE_DEFAULTS.logLevel})` },
  'trust-proxy': { type: 'boolean', help: 'take client addresses from X-Forwarded-For (only behind your own proxy)' },
  'allow-insecure-key-permissions': { type: 'boolean', help: 'start even if a key file (master key, TLS key) is readable by other users (refused by default)' },
  workers: { type: 'string', arg: 'N|auto', help: `server processes sharing the port and database (default 1; auto: one per core, at most ${MAX_WORKERS})` },
} as const satisfies FlagSpecs;

function int(v: string | undefined, flag: string, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${flag} must be an integer`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`--${flag} must be between ${min} and ${max}`);
  return n;
}

export function parseServeArgs(args: string[]): ServeConfig {
  const { values, positionals } = parseFlags(args, SERVE_FLAGS, true);
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const dev = values.dev === true;
  if (dev && values['root-ca']) throw new UsageError('--dev (simulated root) and --root-ca exclude each other');
  if (!!values['tls-cert'] !== !!values['tls-key']) throw new UsageError('--tls-cert and --tls-key go together');
  if (values.http && (values['tls-cert'] || values.certs)) throw new UsageError('--http serves plain HTTP; drop --tls-cert/--certs');
  const logLevel = values['log-level'] ?? SERVE_DEFAULTS.logLevel;
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) throw new UsageError(`unknown --log-level ${logLevel}`);
  for (const u of values.pccs ?? []) {
    if (!/^https?:\/\/[^\s]+$/.test(u)) throw new UsageError(`--pccs wants an http(s) URL, got '${u}'`);
  }
  if (values['pccs-ca']?.length && !values.pccs?.length) throw new UsageError('--pccs-ca needs --pccs');
  const tlsMinVersion = values['tls-min-version'] ?? SERVE_DEFAULTS.tlsMinVersion;
  if (tlsMinVersion !== 'TLSv1.2' && tlsMinVersion !== 'TLSv1.3') throw new UsageError('--tls-min-version must be TLSv1.2 or TLSv1.3');
  const tlsCiphers = values['tls-ciphers'] ?? SERVE_DEFAULTS.tlsCiphers;
  if (!/^[A-Za-z0-9_+:!@=.-]+$/.test(tlsCiphers)) throw new UsageError('--tls-ciphers wants an OpenSSL cipher list (NAME:NAME:...)');
  if (values.http && (values['tls-ciphers'] || values['tls-min-version'])) throw new UsageError('--http serves plain HTTP; drop --tls-ciphers/--tls-min-version');
  const requestTimeoutSeconds = int(values['request-timeout'], 'request-timeout', SERVE_DEFAULTS.requestTimeoutSeconds, 1, 3600);
  const headersTimeoutSeconds = int(values['headers-timeout'], 'headers-timeout', SERVE_DEFAULTS.headersTimeoutSeconds, 1, 3600);
  if (headersTimeoutSeconds > requestTimeoutSeconds) throw new UsageError('--headers-timeout cannot be longer than --request-timeout');
  const envData = process.env['WARDEN_DATA'];
  // The one rule of src/cli/paths.ts (dataDirOf), kept relative here for the start-up lines.
  const dataDir = values.data ?? (envData ? envData : SERVE_DEFAULTS.dataDir);
  const envPort = process.env['WARDEN_PORT'];
  const c: ServeConfig = {
    dev,
    http: values.http === true,
    host: values.host ?? (dev ? '127.0.0.1' : '0.0.0.0'),
    port: values.port !== undefined ? int(values.port, 'port', SERVE_DEFAULTS.port, 0, 65535) : int(envPort || undefined, 'port (WARDEN_PORT)', SERVE_DEFAULTS.port, 0, 65535),
    dataDir,
    policiesDir: values.policies ?? SERVE_DEFAULTS.policiesDir,
    pccs: values.pccs ?? [],
    pccsCa: values['pccs-ca'] ?? [],
    simPkiDir: values['sim-pki'] ?? `${dataDir}/sim-pki`,
    certsDir: values.certs ?? SERVE_DEFAULTS.certsDir,
    nonceTtlSeconds: int(values['nonce-ttl'], 'nonce-ttl', SERVE_DEFAULTS.nonceTtlSeconds, 1, 3600),
    tokenTtlSeconds: int(values['token-ttl'], 'token-ttl', SERVE_DEFAULTS.tokenTtlSeconds, 1, 86400),
    rateBurst: int(values['rate-burst'], 'rate-burst', SERVE_DEFAULTS.rateBurst, 1, 1_000_000),
    ratePerSecond: int(values['rate-per-second'], 'rate-per-second', SERVE_DEFAULTS.ratePerSecond, 1, 1_000_000),
    logLevel,
    trustProxy: values['trust-proxy'] === true,
    workers: values.workers === 'auto' ? Math.min(os.availableParallelism(), MAX_WORKERS) : int(values.workers, 'workers', SERVE_DEFAULTS.workers, 1, MAX_WORKERS),
    adminRateBurst: int(values['admin-rate-burst'], 'admin-rate-burst', SERVE_DEFAULTS.adminRateBurst, 1, 1_000_000),
    adminRatePerSecond: int(values['admin-rate-per-second'], 'admin-rate-per-second', SERVE_DEFAULTS.adminRatePerSecond, 1, 1_000_000),
    requestTimeoutSeconds,
    headersTimeoutSeconds,
    keepAliveTimeoutSeconds: int(values['keep-alive-timeout'], 'keep-alive-timeout', SERVE_DEFAULTS.keepAliveTimeoutSeconds, 1, 3600),
    maxConnections: int(values['max-connections'], 'max-connections', SERVE_DEFAULTS.maxConnections, 1, 1_000_000),
    maxConnectionsPerAddress: int(values['max-connections-per-address'], 'max-connections-per-address', SERVE_DEFAULTS.maxConnectionsPerAddress, 1, 1_000_000),
    tlsMinVersion,
    tlsCiphers,
    allowInsecureKeyPermissions: values['allow-insecure-key-permissions'] === true,
  };
  // --database, else WARDEN_DATABASE_URL; checked here so a typo is a usage error, not a start-up crash.
  let database: string | undefined;
  try {
    database = databaseUrl(values.database);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (database !== undefined) c.database = database;
  if (values['root-ca']) c.rootCa = values['root-ca'];
  if (values['tls-cert']) c.tlsCert = values['tls-cert'];
  if (values['tls-key']) c.tlsKey = values['tls-key'];
  if (values['master-key-file']) c.masterKeyFile = values['master-key-file'];
  if (values['master-key-env']) c.masterKeyEnv = values['master-key-env'];
  return c;
}
