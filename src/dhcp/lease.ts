/**
 * A DHCP lease as Switchyard keeps it, and the pure reading of a server's ACK into one. Times are
 * epoch milliseconds measured from when the REQUEST that got the ACK was sent (RFC 2131 4.4.1), so a
 * lease never outlives what the server granted. A Lease is plain JSON: hostd persists it with the
 * endpoint to renew and release it after a restart.
 */
import { SyError } from '../errors.js';
import { prefixOfMask, type DhcpPacket } from './packet.js';

export interface Lease {
  address: string;
  prefixLength: number;
  gateway?: string;
  dnsServers: string[];
  domain?: string;
  /** the server that granted it (option 54): renewals are unicast there, the release too */
  serverId: string;
  leaseSeconds: number;
  /** T1: when to renew with the server (epoch ms) */
  renewAt: number;
  /** T2: when to rebind with any server (epoch ms) */
  rebindAt: number;
  expiresAt: number;
  /** the client's MAC, lower case, as sent in chaddr */
  mac: string;
  obtainedAt: number;
}

/**
 * The lease an ACK grants. `sentAt` is when the REQUEST went out; `from` is the IP source of the ACK,
 * used as the server identifier only if the ACK lacks option 54 (RFC 2131 requires it, some relays
 * strip it). Rejects an ACK that grants no usable address with SY_KERNEL.
 */
export function leaseFromAck(ack: DhcpPacket, mac: string, sentAt: number, from?: string): Lease {
  const o = ack.options;
  const server = o.serverId ?? from;
  const refuse = (why: string) => new SyError('SY_KERNEL', `DHCP server${server ? ` "${server}"` : ''} sent an unusable ACK for "${mac}": ${why}`);
  if (o.messageType !== 'ACK') throw refuse(`message type is ${o.messageType ?? 'missing'}, not ACK`);
  if (ack.yiaddr === '0.0.0.0') throw refuse('no address (yiaddr 0.0.0.0)');
  if (!server) throw refuse('no server identifier (option 54)');
  if (o.leaseSeconds === undefined) throw refuse('no lease time (option 51)');
  if (o.subnetMask === undefined) throw refuse('no subnet mask (option 1)');
  const prefixLength = prefixOfMask(o.subnetMask);
  if (prefixLength === null) throw refuse(`subnet mask "${o.subnetMask}" is not contiguous`);

  const lease = o.leaseSeconds;
  // RFC 2131 4.4.5: T1 defaults to half the lease, T2 to 7/8; values out of order are ignored.
  let t1 = o.renewalSeconds ?? lease / 2;
  let t2 = o.rebindingSeconds ?? (lease * 7) / 8;
  if (!(t2 <= lease)) t2 = (lease * 7) / 8;
  if (!(t1 <= t2)) t1 = Math.min(lease / 2, t2);
  const at = (seconds: number) => sentAt + Math.round(seconds * 1000);
  return {
    address: ack.yiaddr,
    prefixLength,
    ...(o.routers?.[0] ? { gateway: o.routers[0] } : {}),
    dnsServers: o.dnsServers ?? [],
    ...(o.domainName ? { domain: o.domainName } : {}),
    serverId: server,
    leaseSeconds: lease,
    renewAt: at(t1),
    rebindAt: at(t2),
    expiresAt: at(lease),
    mac: mac.toLowerCase(),
    obtainedAt: sentAt,
  };
}
