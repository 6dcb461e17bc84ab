/**
 * The kernel and wire side of hostd's DHCP leases, behind one interface: the Linux one (a lease port
 * made with `ip`, the exchanges of src/dhcp/client.ts run in the endpoint's namespace) and, for the
 * service tests without root, stand-ins that never touch the machine (test/unit/fake-dhcp-server.ts).
 * A host service made without one has DHCP refused (unavailableLeaseExchange).
 */
import { run } from '../dataplane/run.js';
import { acquireLease, releaseLease, renewLease, type AcquireOptions, type DhcpInterface, type Lease } from '../dhcp/client.js';
import { SyError } from '../errors.js';
import { faultStep } from '../faults.js';
import { LEASE_PORT_PREFIX, shortId } from '../model/names.js';

/** Where a new endpoint leases: its network's switch, its namespace, its interface and MAC. */
export interface LeasePort {
  endpointId: string;
  bridge: string;
  nsPath: string;
  ifName: string;
  mac: string;
  /** sent as the DHCP host name (option 12) when it is one */
  hostname?: string;
}

export interface LeaseExchange {
  /**
   * Runs `fn` with the endpoint's interface up in its namespace on a lease port (a veth sy-dh-<id>
   * on the network's switch, the endpoint's MAC inside, no address), removed when `fn` settles.
   */
  withPort<T>(port: LeasePort, fn: (iface: DhcpInterface) => Promise<T>): Promise<T>;
  /** Puts a lease's address on the lease port's inside (a release is sent from it). */
  addressPort(port: LeasePort, lease: Lease): Promise<void>;
  acquire(opts: AcquireOptions): Promise<Lease>;
  renew(opts: DhcpInterface, lease: Lease, now: number): Promise<Lease>;
  /** best effort: false when it could not be sent */
  release(opts: DhcpInterface, lease: Lease): Promise<boolean>;
}

export const linuxLeaseExchange: LeaseExchange = {
  async withPort(port, fn) {
    const link = LEASE_PORT_PREFIX + shortId(port.endpointId);
    await run(['ip', 'link', 'add', link, 'type', 'veth', 'peer', 'name', port.ifName, 'address', port.mac, 'netns', port.nsPath]);
    try {
      await run(['ip', 'link', 'set', link, 'master', port.bridge, 'up']);
      await run(['ip', 'link', 'set', port.ifName, 'up'], { netns: port.nsPath });
      faultStep(`dhcp: exchange through ${link}`);
      return await fn({ nsPath: port.nsPath, ifName: port.ifName, mac: port.mac, ...(port.hostname ? { hostname: port.hostname } : {}) });
    } finally {
      // A failed delete leaves the link to the next full pass (it is an owned link no record wants).
      await run(['ip', 'link', 'del', link], { okExitCodes: [1] }).catch(() => undefined);
    }
  },
  async addressPort(port, lease) {
    await run(['ip', 'addr', 'add', `${lease.address}/${lease.prefixLength}`, 'dev', port.ifName], { netns: port.nsPath });
  },
  acquire: acquireLease,
  renew: renewLease,
  release: releaseLease,
};

const refuse = (): never => {
  throw new SyError('SY_NOT_SUPPORTED', 'This host service has no DHCP client (it was made without a lease exchange)');
};

export const unavailableLeaseExchange: LeaseExchange = {
  withPort: async () => refuse(),
  addressPort: async () => refuse(),
  acquire: async () => refuse(),
  renew: async () => refuse(),
  release: async () => false,
};
