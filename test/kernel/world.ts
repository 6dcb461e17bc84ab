/**
 * A test world on the real kernel (shared/TESTING.md): network namespaces made by the test — a
 * "host" where hostd runs, an "outside" standing for the physical network, and the endpoint
 * namespaces — joined by veth pairs created inside them, never in the machine's root namespace.
 * Everything carries the run's prefix and is removed by cleanup(), also when a test fails; processes
 * are stopped by their own pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/dataplane/run.js';
import { HostClient } from '../../src/cli/client.js';

export const REPO = process.cwd();
const CLI = join(REPO, 'bin/switchyard');

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('kernel tests need root (they build network namespaces)');
}

export interface Hostd {
  pid: number;
  socket: string;
  stateDir: string;
  client: HostClient;
  proc: ChildProcess;
  log: () => string;
}

export class World {
  readonly prefix: string;
  readonly dir: string;
  private readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private readonly daemons: Hostd[] = [];

  constructor(tag: string) {
    this.prefix = `syt${tag}${process.pid % 1000}`;
    this.dir = mkdtempSync(join(tmpdir(), `${this.prefix}-`));
  }

  nsName(short: string): string {
    return `${this.prefix}-${short}`;
  }

  async addNs(short: string): Promise<string> {
    const name = this.nsName(short);
    await run(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    await this.ip(name, 'link set lo up');
    return name;
  }

  /** Runs `ip -batch` lines inside namespace `ns`. */
  async ip(ns: string, ...lines: string[]): Promise<void> {
    await run(['ip', '-n', ns, '-batch', '-'], { stdin: lines.join('\n') + '\n' });
  }

  /** Runs argv inside namespace `ns` (`ip netns exec`, which also gives the namespace its resolv.conf). */
  exec(ns: string, argv: string[], opts: { okExitCodes?: number[]; timeoutMs?: number; stdin?: string } = {}) {
    return run(['ip', 'netns', 'exec', ns, ...argv], opts);
  }

  /**
   * The usual world: host (192.0.2.1/24 and 192.0.2.3/24 on its eth0) and outside (192.0.2.2/24)
   * joined by a veth pair; the outside's default route points at the host.
   */
  async hostAndOutside(): Promise<{ host: string; outside: string }> {
    const host = await this.addNs('host');
    const outside = await this.addNs('out');
    await this.ip(host, `link add eth0 type veth peer name eth0 netns ${outside}`, 'addr add 192.0.2.1/24 dev eth0', 'addr add 192.0.2.3/24 dev eth0', 'link set eth0 up');
    await this.ip(outside, 'addr add 192.0.2.2/24 dev eth0', 'link set eth0 up', 'route add default via 192.0.2.1');
    return { host, outside };
  }

  /** Starts hostd inside `hostNs` (nsenter, as in production) and waits until it answers. */
  async startHostd(hostNs: string, opts: { stateDir?: string; resyncSeconds?: number; args?: string[]; mountNsPid?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Hostd> {
    const stateDir = opts.stateDir ?? join(this.dir, `state-${hostNs}`);
    const socket = join(this.dir, `hns-${hostNs}.sock`);
    const out: Buffer[] = [];
    const proc = spawn(
      'nsenter',
      [
        ...(opts.mountNsPid ? [`--mount=/proc/${opts.mountNsPid}/ns/mnt`] : []),
        `--net=/run/netns/${hostNs}`, '--', process.execPath, CLI, 'hostd', '--state-dir', stateDir, '--socket', socket,
        '--resync-interval', String(opts.resyncSeconds ?? 1), ...(opts.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}) },
    );
    proc.stdout!.on('data', (b: Buffer) => out.push(b));
    proc.stderr!.on('data', (b: Buffer) => out.push(b));
    this.procs.push(proc);
    const client = new HostClient(socket, 30_000);
    const d: Hostd = { pid: proc.pid!, socket, stateDir, client, proc, log: () => Buffer.concat(out).toString() };
    this.daemons.push(d);
    await waitFor(`hostd in ${hostNs} to answer`, async () => {
      if (proc.exitCode !== null) throw new Error(`hostd exited: ${d.log()}`);
      return client.request('GET', '/healthz').then(
        () => true,
        () => false,
      );
    });
    return d;
  }

  /** The output of every hostd this world started, oldest first (for debugging a failed test). */
  daemonLogs(): string {
    return this.daemons.map((d) => d.log()).join('\n');
  }

  /** Stops hostd by its pid (SIGKILL for a crash, SIGTERM for a clean stop) and waits for its exit. */
  async stopHostd(d: Hostd, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    d.client.close();
    if (d.proc.exitCode !== null || d.proc.signalCode !== null) return;
    const exited = new Promise((r) => d.proc.once('exit', r));
    d.proc.kill(signal);
    await exited;
  }

  /** Starts the count of a hostd started with SWITCHYARD_FAULT=...,on-signal and waits until it says so. */
  async armFault(d: Hostd): Promise<void> {
    process.kill(d.pid, 'SIGUSR2');
    await waitFor('hostd to arm its fault', async () => d.log().includes('fault armed'));
  }

  /** Runs the switchyard CLI against hostd's socket. */
  async cli(d: Hostd, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const res = await run([process.execPath, CLI, '--socket', d.socket, ...args], { okExitCodes: [1, 2, 3] });
    return { code: res.exitCode, stdout: res.stdout, stderr: res.stderr };
  }

  /** Starts a long-running process inside `ns`; it is stopped by its pid at cleanup. */
  spawnIn(ns: string, argv: string[], opts: { stdin?: boolean } = {}): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    this.procs.push(p);
    return p;
  }

  /** Starts a long-running process in the test's own namespaces (argv as given); stopped by pid at cleanup. */
  spawnProc(argv: string[], opts: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.env ? { env: opts.env } : {}) });
    this.procs.push(p);
    return p;
  }

  /** An HTTP server answering `body` on `port` inside `ns` (busybox httpd in the foreground). */
  async httpServer(ns: string, port: number, body: string): Promise<void> {
    const root = mkdtempSync(join(this.dir, 'www-'));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(root, 'index.html'), body);
    this.spawnIn(ns, ['busybox', 'httpd', '-f', '-p', String(port), '-h', root]);
    await waitFor(`httpd on ${ns}:${port}`, async () => (await this.curl(ns, `http://127.0.0.1:${port}/`)) === body);
  }

  /** GETs `url` from inside `ns`; returns the body, or '' when nothing answered. */
  async curl(ns: string, url: string, timeoutSec = 2): Promise<string> {
    const res = await this.exec(ns, ['curl', '-s', '-m', String(timeoutSec), url], { okExitCodes: [7, 28, 52, 56] });
    return res.exitCode === 0 ? res.stdout : '';
  }

  async cleanup(): Promise<void> {
    for (const d of this.daemons) {
      // Remove what hostd made (its namespaces may be named by hostd), then stop it.
      try {
        for (const n of (await d.client.request<{ ID: string }[]>('GET', '/networks')) ?? []) await d.client.request('DELETE', `/networks/${n.ID}`);
        for (const n of (await d.client.request<{ ID: string }[]>('GET', '/namespaces')) ?? []) await d.client.request('DELETE', `/namespaces/${n.ID}`);
      } catch {
        // hostd may be down already; the namespace sweep below still runs
      }
      await this.stopHostd(d, 'SIGTERM');
    }
    for (const p of this.procs) {
      if (p.exitCode === null && p.signalCode === null) {
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await exited;
      }
    }
    const all = this.leftovers();
    for (const n of new Set([...this.namespaces, ...all])) await run(['ip', 'netns', 'delete', n], { okExitCodes: [1] });
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Namespaces with this run's prefix that still exist (the leak check). */
  leftovers(): string[] {
    if (!existsSync('/run/netns')) return [];
    return readdirSync('/run/netns').filter((n) => n.startsWith(`${this.prefix}-`));
  }
}

/** Polls `cond` until it holds (bounded); throws naming what was awaited. */
export async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
}
