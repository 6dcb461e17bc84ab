/**
 * A stand-in for the kernel and wire side of hostd's DHCP leases (src/hostd/lease-exchange.ts), for
 * the service tests without root: a DHCP server in memory that hands out addresses of a range to
 * MACs, with switches for no answer, a refusal (NAK) and an address outside the network, and a
 * record of every lease port and release. It never touches the machine.
 */
import { dhcpRefusal, type AcquireOptions, type DhcpInterface, type Lease } from '../../src/dhcp/client.js';
import { SyError } from '../../src/errors.js';
import type { LeaseExchange, LeasePort } from '../../src/hostd/lease-exchange.js';

export class FakeDhcpServer implements LeaseExchange {
  /** MAC → address it holds */
  readonly leases = new Map<string, string>();
  readonly released: { mac: string; address: string; portAddressed: boolean }[] = [];
  readonly acquires: AcquireOptions[] = [];
  renewals = 0;
  /** lease ports now up, and every one made */
  readonly portsUp = new Set<string>();
  portsMade = 0;
  answer = true;
  nak = false;
  /** the next address handed out, last octet */
  next = 100;
  /** what the next lease's T1 is, ms from now */
  renewInMs = 60_000;
  leaseSeconds = 600;
  /** called at each release (to see what the data plane holds then) */
  onRelease: () => void = () => undefined;
  private addressed = new Set<string>();

  constructor(readonly prefix = '198.18.0') {}

  async withPort<T>(port: LeasePort, fn: (iface: DhcpInterface) => Promise<T>): Promise<T> {
    this.portsUp.add(port.endpointId);
    this.portsMade++;
    try {
      return await fn({ nsPath: port.nsPath, ifName: port.ifName, mac: port.mac, ...(port.hostname ? { hostname: port.hostname } : {}) });
    } finally {
      this.portsUp.delete(port.endpointId);
      this.addressed.delete(port.mac);
    }
  }

  async addressPort(port: LeasePort): Promise<void> {
    this.addressed.add(port.mac);
  }

  async acquire(opts: AcquireOptions): Promise<Lease> {
    this.acquires.push(opts);
    if (!this.answer) throw new SyError('SY_TIMEOUT', `No DHCP answer on "${opts.ifName}" within ${(opts.timeoutMs ?? 0) / 1000} s`);
    const held = this.leases.get(opts.mac);
    const address = opts.requestedAddress && !this.nak ? opts.requestedAddress : (held ?? `${this.prefix}.${this.next++}`);
    this.leases.set(opts.mac, address);
    return this.lease(opts.mac, address);
  }

  async renew(opts: DhcpInterface, lease: Lease): Promise<Lease> {
    if (!this.answer) throw new SyError('SY_TIMEOUT', `No DHCP answer on "${opts.ifName}"`);
    if (this.nak) throw dhcpRefusal(`DHCP server "${this.prefix}.1" refused to renew "${lease.address}" on "${opts.ifName}" (NAK: wrong address)`);
    this.renewals++;
    return this.lease(opts.mac, lease.address);
  }

  async release(opts: DhcpInterface, lease: Lease): Promise<boolean> {
    this.onRelease();
    this.released.push({ mac: opts.mac, address: lease.address, portAddressed: this.addressed.has(opts.mac) });
    this.leases.delete(opts.mac);
    return true;
  }

  private lease(mac: string, address: string): Lease {
    const now = Date.now();
    return {
      address,
      prefixLength: 24,
      gateway: `${this.prefix}.1`,
      dnsServers: [`${this.prefix}.53`],
      domain: 'lab.test',
      serverId: `${this.prefix}.2`,
      leaseSeconds: this.leaseSeconds,
      renewAt: now + this.renewInMs,
      rebindAt: now + this.leaseSeconds * 875,
      expiresAt: now + this.leaseSeconds * 1000,
      mac,
      obtainedAt: now,
    };
  }
}
