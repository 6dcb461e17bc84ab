/**
 * The world of the DHCP kernel test (shared/TESTING.md): a "fabric" namespace with a bridge standing
 * for the physical network, a server namespace running dnsmasq as the network's DHCP server, and
 * endpoint namespaces whose eth0 (a veth with a chosen MAC) joins the bridge. Nothing is made in the
 * machine's root namespace; names carry a random prefix; cleanup() removes everything, dnsmasq
 * stopped by its own pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/dataplane/run.js';

export const SERVER_ADDRESS = '198.18.0.1';
export const RANGE = ['198.18.0.100', '198.18.0.150'] as const;
export const DNS_SERVERS = ['198.18.0.53', '198.18.0.54'];
export const DOMAIN = 'sydh.test';
export const LEASE_SECONDS = 120; // dnsmasq's minimum

export interface LeaseLine {
  expires: number;
  mac: string;
  address: string;
  hostname: string;
}

export interface Dnsmasq {
  pid: number;
  proc: ChildProcess;
  leaseFile: string;
  log: () => string;
}

export class DhcpWorld {
  readonly prefix = `sydh-${randomBytes(3).toString('hex')}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'sydh-'));
  private readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private endpoints = 0;
  fabric = '';
  server = '';

  static requireRoot(): void {
    if (process.getuid?.() !== 0) throw new Error('the DHCP kernel test needs root (it builds network namespaces)');
  }

  nsPath(ns: string): string {
    return `/run/netns/${ns}`;
  }

  private async addNs(short: string): Promise<string> {
    const name = `${this.prefix}-${short}`;
    await run(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    await this.ip(name, 'link set lo up');
    return name;
  }

  async ip(ns: string, ...lines: string[]): Promise<void> {
    await run(['ip', '-n', ns, '-batch', '-'], { stdin: lines.join('\n') + '\n' });
  }

  /** The fabric with its bridge and the server namespace (198.18.0.1/24) on it. */
  async build(): Promise<void> {
    this.fabric = await this.addNs('fab');
    this.server = await this.addNs('srv');
    await this.ip(this.fabric, 'link add br0 type bridge', 'link set br0 up', `link add p-srv type veth peer name eth0 netns ${this.server}`, 'link set p-srv master br0', 'link set p-srv up');
    await this.ip(this.server, `addr add ${SERVER_ADDRESS}/24 dev eth0`, 'link set eth0 up');
  }

  /**
   * An endpoint namespace whose eth0 carries `mac`, is up and has no address; joined to the bridge
   * unless `attached` is false (then no DHCP server can be reached from it).
   */
  async endpoint(mac: string, attached = true): Promise<string> {
    const n = ++this.endpoints;
    const ns = await this.addNs(`ep${n}`);
    await this.ip(this.fabric, `link add p-ep${n} type veth peer name eth0 netns ${ns}`, ...(attached ? [`link set p-ep${n} master br0`] : []), `link set p-ep${n} up`);
    await this.ip(ns, `link set eth0 address ${mac}`, 'link set eth0 up');
    return ns;
  }

  /** Starts dnsmasq as the fabric's DHCP server (no DNS), waits until it serves, and returns it. */
  async startDnsmasq(extra: string[] = []): Promise<Dnsmasq> {
    const leaseFile = join(this.dir, 'dnsmasq.leases');
    const argv = [
      `--net=${this.nsPath(this.server)}`, '--', '/usr/sbin/dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0',
      '--interface=eth0', '--bind-interfaces', `--dhcp-range=${RANGE[0]},${RANGE[1]},255.255.255.0,${LEASE_SECONDS}`,
      `--dhcp-option=option:router,${SERVER_ADDRESS}`, `--dhcp-option=option:dns-server,${DNS_SERVERS.join(',')}`, `--domain=${DOMAIN}`,
      `--dhcp-leasefile=${leaseFile}`, '--dhcp-authoritative', '--log-facility=-', '--log-dhcp', '--pid-file=', ...extra,
    ];
    // nsenter execs dnsmasq: the child's pid is dnsmasq's.
    const proc = spawn('nsenter', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(proc);
    const out: Buffer[] = [];
    proc.stdout!.on('data', (b: Buffer) => out.push(b));
    proc.stderr!.on('data', (b: Buffer) => out.push(b));
    const d: Dnsmasq = { pid: proc.pid!, proc, leaseFile, log: () => Buffer.concat(out).toString() };
    await waitFor('dnsmasq to serve DHCP', async () => {
      if (proc.exitCode !== null) throw new Error(`dnsmasq exited: ${d.log()}`);
      return /DHCP, IP range/.test(d.log());
    });
    return d;
  }

  /** tcpdump on `ns`'s eth0 (line-buffered, numeric), started once it listens; stopped by pid at cleanup. */
  async capture(ns: string, filter: string[]): Promise<{ text: () => string }> {
    const proc = spawn('nsenter', [`--net=${this.nsPath(ns)}`, '--', 'tcpdump', '-i', 'eth0', '-n', '-l', ...filter], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(proc);
    const out: Buffer[] = [];
    let err = '';
    proc.stdout!.on('data', (b: Buffer) => out.push(b));
    proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    await waitFor('tcpdump to listen', () => {
      if (proc.exitCode !== null) throw new Error(`tcpdump exited: ${err}`);
      return err.includes('listening on');
    });
    return { text: () => Buffer.concat(out).toString() };
  }

  /** dnsmasq's lease file, read now (it rewrites it on every change). */
  leases(d: Dnsmasq): LeaseLine[] {
    if (!existsSync(d.leaseFile)) return [];
    return readFileSync(d.leaseFile, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const [expires, mac, address, hostname] = l.split(' ');
        return { expires: Number(expires), mac: mac!, address: address!, hostname: hostname! };
      });
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) {
      if (p.exitCode === null && p.signalCode === null) {
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await exited;
      }
    }
    for (const n of new Set([...this.namespaces, ...this.leftovers()])) await run(['ip', 'netns', 'delete', n], { okExitCodes: [1] });
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Namespaces with this world's prefix that still exist (the leak check). */
  leftovers(): string[] {
    if (!existsSync('/run/netns')) return [];
    return readdirSync('/run/netns').filter((n) => n.startsWith(`${this.prefix}-`));
  }
}

/** Pids of processes whose command line mentions `needle` (e.g. the exchange program), other than this one. */
export function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(needle)) pids.push(Number(e));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** Polls `cond` until it holds (bounded); throws naming what was awaited. */
export async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
}
