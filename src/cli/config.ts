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
import { UsageError, parseFlags } from './io.ts';
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

export const SERVE_USAGE =
  'usage: warden serve [--dev] [--http] [--host H] [--port N] [--data DIR] [--database postgres://…] [--policies DIR] [--pccs URL]... [--pccs-ca FILE]... ' +
  '[--root-ca FILE] [--sim-pki DIR] [--certs DIR | --tls-cert FILE --tls-key FILE] [--master-key-file F | --master-key-env VAR] ' +
  '[--nonce-ttl S] [--token-ttl S] [--rate-burst N] [--rate-per-second N] [--log-level L] [--trust-proxy] [--workers N|auto] ' +
  '[--admin-rate-burst N] [--admin-rate-per-second N] [--request-timeout S] [--headers-timeout S] [--keep-alive-timeout S] ' +
  '[--max-connections N] [--max-connections-per-address N] [--tls-min-version TLSv1.2|TLSv1.3] [--tls-ciphers LIST] [--allow-insecure-key-permissions]';

function int(v: string | undefined, flag: string, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${flag} must be an integer`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`--${flag} must be between ${min} and ${max}`);
  return n;
}

export function parseServeArgs(args: string[]): ServeConfig {
  const { values, positionals } = parseFlags(
    args,
    {
      dev: { type: 'boolean', default: false },
      http: { type: 'boolean', default: false },
      host: { type: 'string' },
      port: { type: 'string' },
      data: { type: 'string' },
      database: { type: 'string' },
      policies: { type: 'string' },
      pccs: { type: 'string', multiple: true },
      'pccs-ca': { type: 'string', multiple: true },
      'root-ca': { type: 'string' },
      'sim-pki': { type: 'string' },
      certs: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'master-key-file': { type: 'string' },
      'master-key-env': { type: 'string' },
      'nonce-ttl': { type: 'string' },
      'token-ttl': { type: 'string' },
      'rate-burst': { type: 'string' },
      'rate-per-second': { type: 'string' },
      'log-level': { type: 'string' },
      'trust-proxy': { type: 'boolean', default: false },
      workers: { type: 'string' },
      'admin-rate-burst': { type: 'string' },
      'admin-rate-per-second': { type: 'string' },
      'request-timeout': { type: 'string' },
      'headers-timeout': { type: 'string' },
      'keep-alive-timeout': { type: 'string' },
      'max-connections': { type: 'string' },
      'max-connections-per-address': { type: 'string' },
      'tls-min-version': { type: 'string' },
      'tls-ciphers': { type: 'string' },
      'allow-insecure-key-permissions': { type: 'boolean', default: false },
    },
    true,
  );
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
  const dataDir = values.data ?? SERVE_DEFAULTS.dataDir;
  const c: ServeConfig = {
    dev,
    http: values.http === true,
    host: values.host ?? (dev ? '127.0.0.1' : '0.0.0.0'),
    port: int(values.port, 'port', SERVE_DEFAULTS.port, 0, 65535),
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
