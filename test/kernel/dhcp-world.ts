/**
 * The world of the DHCP kernel test (shared/TESTING.md), built on the suite's World (world.ts): a
 * "fabric" namespace with a bridge standing for the physical network, a server namespace running
 * dnsmasq as the network's DHCP server, and endpoint namespaces whose eth0 (a veth with a chosen MAC)
 * joins the bridge. Nothing is made in the machine's root namespace; names carry the run's prefix;
 * cleanup() removes everything, dnsmasq and tcpdump stopped by their own pids.
 */
import { type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { World, requireRoot, waitFor } from './world.js';

export { requireRoot, waitFor };

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
  readonly world: World;
  private endpoints = 0;
  fabric = '';
  server = '';

  /** `tag` tells apart the worlds of one test process (their namespaces carry it in their prefix). */
  constructor(tag: string) {
    this.world = new World(`dh${tag}`);
  }

  get prefix(): string {
    return this.world.prefix;
  }

  nsPath(ns: string): string {
    return `/run/netns/${ns}`;
  }

  ip(ns: string, ...lines: string[]): Promise<void> {
    return this.world.ip(ns, ...lines);
  }

  /** The fabric with its bridge and the server namespace (198.18.0.1/24) on it. */
  async build(): Promise<void> {
    this.fabric = await this.world.addNs('fab');
    this.server = await this.world.addNs('srv');
    await this.ip(this.fabric, 'link add br0 type bridge', 'link set br0 up', `link add p-srv type veth peer name eth0 netns ${this.server}`, 'link set p-srv master br0', 'link set p-srv up');
    await this.ip(this.server, `addr add ${SERVER_ADDRESS}/24 dev eth0`, 'link set eth0 up');
  }

  /**
   * An endpoint namespace whose eth0 carries `mac`, is up and has no address; joined to the bridge
   * unless `attached` is false (then no DHCP server can be reached from it).
   */
  async endpoint(mac: string, attached = true): Promise<string> {
    const n = ++this.endpoints;
    const ns = await this.world.addNs(`ep${n}`);
    await this.ip(this.fabric, `link add p-ep${n} type veth peer name eth0 netns ${ns}`, ...(attached ? [`link set p-ep${n} master br0`] : []), `link set p-ep${n} up`);
    await this.ip(ns, `link set eth0 address ${mac}`, 'link set eth0 up');
    return ns;
  }

  /** argv run under `nsenter --net` in `ns` (nsenter execs it: the child's pid is argv's), output collected. */
  private spawnIn(ns: string, argv: string[]): { proc: ChildProcess; out: () => string } {
    const proc = this.world.spawnProc(['nsenter', `--net=${this.nsPath(ns)}`, '--', ...argv]);
    const chunks: Buffer[] = [];
    proc.stdout!.on('data', (b: Buffer) => chunks.push(b));
    proc.stderr!.on('data', (b: Buffer) => chunks.push(b));
    return { proc, out: () => Buffer.concat(chunks).toString() };
  }

  /**
   * Starts dnsmasq as the fabric's DHCP server (no DNS), waits until it serves, and returns it.
   * Authoritative by default (it NAKs requests for addresses it does not allow, known client or not).
   */
  async startDnsmasq(extra: string[] = [], { authoritative = true } = {}): Promise<Dnsmasq> {
    const leaseFile = join(this.world.dir, 'dnsmasq.leases');
    const { proc, out } = this.spawnIn(this.server, [
      '/usr/sbin/dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0',
      '--interface=eth0', '--bind-interfaces', `--dhcp-range=${RANGE[0]},${RANGE[1]},255.255.255.0,${LEASE_SECONDS}`,
      `--dhcp-option=option:router,${SERVER_ADDRESS}`, `--dhcp-option=option:dns-server,${DNS_SERVERS.join(',')}`, `--domain=${DOMAIN}`,
      `--dhcp-leasefile=${leaseFile}`, ...(authoritative ? ['--dhcp-authoritative'] : []), '--log-facility=-', '--log-dhcp', '--pid-file=', ...extra,
    ]);
    const d: Dnsmasq = { pid: proc.pid!, proc, leaseFile, log: out };
    await waitFor('dnsmasq to serve DHCP', async () => {
      if (proc.exitCode !== null) throw new Error(`dnsmasq exited: ${d.log()}`);
      return /DHCP, IP range/.test(d.log());
    });
    return d;
  }

  /** tcpdump on `ns`'s eth0 (line-buffered, numeric), returned once it listens. */
  async capture(ns: string, filter: string[]): Promise<{ text: () => string }> {
    const { proc, out } = this.spawnIn(ns, ['tcpdump', '-i', 'eth0', '-n', '-l', ...filter]);
    await waitFor('tcpdump to listen', async () => {
      if (proc.exitCode !== null) throw new Error(`tcpdump exited: ${out()}`);
      return out().includes('listening on');
    });
    // Only the packet lines: tcpdump's notes go to stderr, collected alongside.
    return { text: () => out().split('\n').filter((l) => /^\d\d:\d\d:/.test(l)).join('\n') };
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

  cleanup(): Promise<void> {
    return this.world.cleanup();
  }

  leftovers(): string[] {
    return this.world.leftovers();
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
