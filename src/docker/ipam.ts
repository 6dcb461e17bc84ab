/**
 * The Docker front door's IPAM driver `switchyard` (`docker network create --ipam-driver switchyard`).
 * Docker asks for pools and addresses before the network exists in hostd, so the pools live here, in
 * one small file in hostd's state directory, written atomically before each answer: a restart of
 * hostd loses nothing, and Docker's replay is not needed (RequiresRequestReplay is false).
 * A requested pool must not overlap hostd's networks, the host's routes or another pool; without one,
 * a free /24 of 172.16.0.0/12 is chosen like hostd does for HCN networks without a subnet.
 */
import { SyError } from '../errors.js';
import type { HostService } from '../hostd/service.js';
import { pickFreeSubnet } from '../hostd/network-request.js';
import { parseDoc } from '../hcn/schema.js';
import { cidrContains, cidrSize, cidrsOverlap, cidrToString, intToIp, ipToInt, isIPv4, parseCidr } from '../model/ipv4.js';
import type { Handler, Serial } from './driver.js';
import { ReleaseAddressRequest, ReleasePoolRequest, RequestAddressRequest, RequestPoolRequest } from './messages.js';
import { bareIp } from './translate.js';
import { JsonRecords } from './json-records.js';

const LOCAL_SPACE = 'switchyard-local';
const GLOBAL_SPACE = 'switchyard-global';

interface Pool {
  subnet: string;
  /** addresses handed out (gateway, aux and endpoint addresses) */
  addresses: string[];
}

export class IpamStore {
  private readonly pools: JsonRecords<Pool>;

  constructor(file: string) {
    this.pools = new JsonRecords<Pool>(file, 'pools');
  }

  get(id: string): Pool {
    const p = this.pools.get(id);
    if (!p) throw new SyError('SY_NOT_FOUND', `IPAM pool "${id}" not found`);
    return p;
  }

  all(): [string, Pool][] {
    return this.pools.all();
  }

  /** Frees `ip` in the pool that holds it (an endpoint Docker forgot after a crash). */
  releaseAddress(ip: string): void {
    for (const [id, p] of this.all()) {
      if (p.addresses.includes(ip) && cidrContains(parseCidr(p.subnet), ipToInt(ip))) {
        this.set(id, { ...p, addresses: p.addresses.filter((a) => a !== ip) });
      }
    }
  }

  set(id: string, p: Pool | undefined): void {
    this.pools.set(id, p);
  }
}

export function ipamHandlers(svc: HostService, store: IpamStore, serial: Serial): Record<string, Handler> {
  return {
    'IpamDriver.GetCapabilities': async () => ({ RequiresMACAddress: false, RequiresRequestReplay: false }),
    'IpamDriver.GetDefaultAddressSpaces': async () => ({ LocalDefaultAddressSpace: LOCAL_SPACE, GlobalDefaultAddressSpace: GLOBAL_SPACE }),

    'IpamDriver.RequestPool': (body) =>
      serial.run(async () => {
        const req = parseDoc(RequestPoolRequest, body, 'RequestPool request');
        if (req.V6) throw new SyError('SY_NOT_SUPPORTED', 'IPv6 pools are not supported yet');
        if (req.SubPool) throw new SyError('SY_NOT_SUPPORTED', 'A sub-pool (--ip-range) is not supported by the switchyard IPAM yet');
        const taken = [
          ...(await svc.takenPrefixes()),
          ...store.all().map(([id, p]) => ({ cidr: parseCidr(p.subnet), what: `the IPAM pool ${id}` })),
        ];
        let cidr;
        if (req.Pool) {
          cidr = parseCidr(req.Pool);
          if (cidr.prefix > 30 || cidr.prefix < 8) throw new SyError('SY_INVALID_SUBNET', `Subnet "${req.Pool}" must be between /8 and /30`);
          const clash = taken.find((t) => cidrsOverlap(t.cidr, cidr!));
          if (clash) throw new SyError('SY_SUBNET_OVERLAP', `Subnet ${cidrToString(cidr)} overlaps ${clash.what}`);
        } else {
          cidr = pickFreeSubnet(taken.map((t) => t.cidr));
        }
        const subnet = cidrToString(cidr);
        const id = `${LOCAL_SPACE}/${subnet}`;
        store.set(id, { subnet, addresses: [] });
        return { PoolID: id, Pool: subnet, Data: {} };
      }),

    'IpamDriver.ReleasePool': (body) =>
      serial.run(async () => {
        const req = parseDoc(ReleasePoolRequest, body, 'ReleasePool request');
        store.set(req.PoolID, undefined);
        return {};
      }),

    'IpamDriver.RequestAddress': (body) =>
      serial.run(async () => {
        const req = parseDoc(RequestAddressRequest, body, 'RequestAddress request');
        const pool = store.get(req.PoolID);
        const cidr = parseCidr(pool.subnet);
        const used = new Set(pool.addresses);
        const size = cidrSize(cidr);
        const inside = (ip: string) => {
          if (!isIPv4(ip)) throw new SyError('SY_INVALID_ADDRESS', `"${ip}" is not an IPv4 address`);
          const n = ipToInt(ip);
          if (!cidrContains(cidr, n) || n === cidr.base || n === cidr.base + size - 1) {
            throw new SyError('SY_INVALID_ADDRESS', `${ip} is not a host address of ${pool.subnet}`);
          }
        };
        let ip = req.Address ? bareIp(req.Address) : '';
        if (ip) {
          inside(ip);
          if (used.has(ip)) throw new SyError('SY_ADDRESS_IN_USE', `${ip} is already in use in ${pool.subnet}`);
        } else {
          // The first free address: the gateway, asked for first, gets .1 as with Docker's own IPAM.
          for (let off = 1; off < size - 1 && !ip; off++) {
            const cand = intToIp(cidr.base + off);
            if (!used.has(cand)) ip = cand;
          }
          if (!ip) throw new SyError('SY_SUBNET_FULL', `No free address left in ${pool.subnet}`);
        }
        store.set(req.PoolID, { ...pool, addresses: [...pool.addresses, ip] });
        return { Address: `${ip}/${cidr.prefix}`, Data: {} };
      }),

    'IpamDriver.ReleaseAddress': (body) =>
      serial.run(async () => {
        const req = parseDoc(ReleaseAddressRequest, body, 'ReleaseAddress request');
        const pool = store.all().find(([id]) => id === req.PoolID)?.[1];
        if (!pool) return {};
        const ip = bareIp(req.Address);
        store.set(req.PoolID, { ...pool, addresses: pool.addresses.filter((a) => a !== ip) });
        return {};
      }),
  };
}
