/**
 * A real 3-member etcd cluster for the etcd store tests: Debian's /usr/bin/etcd, each member a child
 * process on 127.0.0.1 ports picked free, data directories under one temp directory. Members are
 * stopped by their own pid (never by name), and everything is removed by stop(), also when a test
 * failed; an exit hook kills what is left if the test process ends without calling stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export const ETCD = '/usr/bin/etcd';

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  proc?: ChildProcess;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** One POST to a member's gateway with the require-leader header: its status and body, or undefined when down. */
function post(port: number, path: string, body: string): Promise<{ status: number; text: string } | undefined> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: 'POST', agent: false, timeout: 1000,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'grpc-metadata-hasleader': 'true' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(undefined));
    req.end(body);
  });
}

/** Whether the member answers a read: 'ok', 'no leader', or 'down'. */
export async function probe(port: number): Promise<'ok' | 'no leader' | 'down'> {
  const r = await post(port, '/v3/kv/range', JSON.stringify({ key: 'AA==', count_only: true }));
  return r?.status === 200 ? 'ok' : r !== undefined && /no leader/.test(r.text) ? 'no leader' : 'down';
}

/** The member's view of itself and its leader (etcd's /v3/maintenance/status), or undefined when down. */
async function status(port: number): Promise<{ memberId: string; leader: string } | undefined> {
  const r = await post(port, '/v3/maintenance/status', '{}');
  try {
    const j = JSON.parse(r?.text ?? '') as { header?: { member_id?: string }; leader?: string };
    return j.header?.member_id && j.leader ? { memberId: j.header.member_id, leader: j.leader } : undefined;
  } catch {
    return undefined;
  }
}

export async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class EtcdCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'sy-store-etcd-'));
  private readonly token = `sy-test-${randomBytes(4).toString('hex')}`;
  private readonly exitHook = (): void => this.killAllSync();
  private constructor(readonly members: Member[]) {
    process.on('exit', this.exitHook);
  }

  static async start(size = 3): Promise<EtcdCluster> {
    const members: Member[] = [];
    for (let i = 0; i < size; i++) members.push({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort() });
    const c = new EtcdCluster(members);
    try {
      for (let i = 0; i < size; i++) c.startMember(i);
      await c.waitHealthy();
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  get spec(): string {
    return 'etcd://' + this.members.map((m) => `127.0.0.1:${m.clientPort}`).join(',');
  }

  startMember(i: number): void {
    const m = this.members[i]!;
    if (m.proc !== undefined) throw new Error(`member ${m.name} is already running`);
    const cluster = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(',');
    const log = openSync(join(this.dir, `${m.name}.log`), 'a');
    // Short heartbeat and election timeouts (loopback): a lost quorum shows within a second.
    const proc = spawn(ETCD, [
      '--name', m.name,
      '--data-dir', join(this.dir, m.name),
      '--listen-client-urls', `http://127.0.0.1:${m.clientPort}`,
      '--advertise-client-urls', `http://127.0.0.1:${m.clientPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', cluster,
      '--initial-cluster-token', this.token,
      '--initial-cluster-state', 'new',
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
      '--log-level', 'warn',
      // The controller's transactions may hold more than etcd's default of 128 ops.
      '--max-txn-ops', '1024',
    ], { stdio: ['ignore', log, log] });
    closeSync(log);
    m.proc = proc;
    proc.once('exit', () => {
      if (m.proc === proc) m.proc = undefined;
    });
  }

  /** Kills member i (SIGKILL, its own pid: a crash, not a clean stop) and waits until it is gone. */
  async kill(i: number): Promise<void> {
    const proc = this.members[i]!.proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((r) => proc.once('exit', r));
    process.kill(proc.pid!, 'SIGKILL');
    await gone;
  }

  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    const running = this.members.filter((m) => m.proc !== undefined);
    await waitFor('every running etcd member to have a leader', async () => (await Promise.all(running.map((m) => probe(m.clientPort)))).every((s) => s === 'ok'), timeoutMs);
  }

  /** The index of the member the running members agree is the leader. */
  async leader(): Promise<number> {
    let found = -1;
    await waitFor('the members to agree on a leader', async () => {
      const views = await Promise.all(this.members.map((m) => (m.proc === undefined ? undefined : status(m.clientPort))));
      const leaders = new Set(views.filter((v) => v !== undefined).map((v) => v!.leader));
      if (leaders.size !== 1) return false;
      const [id] = leaders;
      found = views.findIndex((v) => v?.memberId === id);
      return found >= 0;
    });
    return found;
  }

  /** A spec listing the members in the given order (a client tries the first one first). */
  specOf(order: number[]): string {
    return 'etcd://' + order.map((i) => `127.0.0.1:${this.members[i]!.clientPort}`).join(',');
  }

  restartStopped(): void {
    for (let i = 0; i < this.members.length; i++) if (this.members[i]!.proc === undefined) this.startMember(i);
  }

  log(i: number): string {
    try {
      return readFileSync(join(this.dir, `${this.members[i]!.name}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  private killAllSync(): void {
    for (const m of this.members) {
      if (m.proc?.pid !== undefined && m.proc.exitCode === null && m.proc.signalCode === null) {
        try {
          process.kill(m.proc.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }

  async stop(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.kill(i);
    process.off('exit', this.exitHook);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
