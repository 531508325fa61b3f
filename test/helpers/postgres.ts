// A private PostgreSQL cluster for tests: initdb and pg_ctl on a temporary directory, listening on a
// free loopback port and a Unix socket inside that directory, removed afterwards. Found under
// /usr/lib/postgresql/*/bin (Debian's postgresql package). Without those binaries the tests that need
// them skip with a visible reason; on CI (CI=true) a missing PostgreSQL is a failure, never a skip.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const ROOT = '/usr/lib/postgresql';

/** The newest bin directory with initdb, pg_ctl and postgres; null when none. */
export function pgBinDir(): string | null {
  let versions: string[];
  try {
    versions = fs.readdirSync(ROOT).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  } catch {
    return null;
  }
  for (const v of versions) {
    const bin = path.join(ROOT, v, 'bin');
    if (['initdb', 'pg_ctl', 'postgres'].every((b) => fs.existsSync(path.join(bin, b)))) return bin;
  }
  return null;
}

/** Why PostgreSQL tests cannot run here, or null when they can. Throws on CI: CI must run them. */
export function pgSkipReason(): string | null {
  if (pgBinDir()) return null;
  const why = `PostgreSQL binaries not found under ${ROOT}/*/bin (apt-get install postgresql)`;
  if (process.env['CI']) throw new Error(`CI must run the PostgreSQL tests: ${why}`);
  return why;
}

/** initdb refuses to run as root: run the cluster as the postgres user (Debian's package makes it), else nobody. */
function runAs(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  for (const name of ['postgres', 'nobody']) {
    try {
      const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
      const [, , uid, gid] = line.split(':');
      if (uid && gid) return { uid: Number(uid), gid: Number(gid) };
    } catch {
      // try the next one
    }
  }
  throw new Error('running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export interface PgCluster {
  readonly port: number;
  readonly dir: string;
  /** The postmaster's process id (its children are the server's backends). */
  pid(): number | null;
  /** URL of a database in the cluster (default: postgres). */
  url(database?: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server (fast shutdown; connections are cut), keeping its data. */
  stop(): void;
  /** Starts it again on the same port and data. */
  start(): void;
  /** Stops it and removes its directory. */
  destroy(): void;
}

let counter = 0;

export interface PgClusterOptions {
  /** fsync and full-page writes on, as in production (the benchmark); tests turn them off for speed. */
  durable?: boolean;
}

export async function startPgCluster(options: PgClusterOptions = {}): Promise<PgCluster> {
  const bin = pgBinDir();
  if (!bin) throw new Error(pgSkipReason() ?? 'no PostgreSQL');
  const user = runAs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-pg-'));
  fs.chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  fs.mkdirSync(data, { mode: 0o700 });
  if (user) {
    fs.chownSync(dir, user.uid, user.gid);
    fs.chownSync(data, user.uid, user.gid);
  }
  const port = await freePort();
  const opts = { ...(user ? { uid: user.uid, gid: user.gid } : {}), encoding: 'utf8' as const, cwd: dir };
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(path.join(bin, cmd), args, opts);
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr || r.stdout}`);
  };
  run('initdb', ['-D', data, '-U', 'warden', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  // Tests: no fsync, a small footprint (the engines' durability is not what they measure). Durable: the defaults.
  const speed = options.durable ? '' : ' -c fsync=off -c full_page_writes=off -c shared_buffers=32MB';
  const pgOpts = `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir} -c max_connections=200${speed}`;
  const start = () => run('pg_ctl', ['start', '-w', '-t', '60', '-D', data, '-l', path.join(dir, 'server.log'), '-o', pgOpts]);
  const stop = () => run('pg_ctl', ['stop', '-w', '-m', 'fast', '-D', data]);
  start();
  let running = true;
  const url = (db = 'postgres') => `postgresql://warden@127.0.0.1:${port}/${db}`;
  const cluster: PgCluster = {
    port,
    dir,
    pid() {
      try {
        return Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]) || null;
      } catch {
        return null;
      }
    },
    url,
    async createDatabase(name = `t${process.pid}_${++counter}`) {
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: url() });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return url(name);
    },
    stop() {
      stop();
      running = false;
    },
    start() {
      start();
      running = true;
    },
    destroy() {
      try {
        if (running) run('pg_ctl', ['stop', '-w', '-m', 'immediate', '-D', data]);
      } catch {
        // already gone
      }
      running = false;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  process.once('exit', () => {
    if (running) spawnSync(path.join(bin, 'pg_ctl'), ['stop', '-m', 'immediate', '-D', data], opts);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return cluster;
}
