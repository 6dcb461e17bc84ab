/**
 * A host adapter taken into a network's switch bridge (the uplink modes), and given back. The host
 * must not be cut off: while the adapter is a port, its IP addresses and routes live on the bridge
 * (which has the adapter's MAC, so the rest of the network sees nothing change), and when the bridge
 * goes they go back to the adapter. Both moves are one `ip -batch` each, ordered so that the host
 * always has its addresses somewhere that works: addresses are added to the new holder first, then
 * the port changes, then each route is replaced (same key, new device: one atomic swap per route),
 * and only then are the addresses taken off the old holder. What is moved is read from the kernel at
 * that moment, so a crash at any point is repaired by the next pass from what the kernel shows.
 * IPv6 link-local addresses and the kernel's own routes (prefix routes, the local table) stay: the
 * kernel makes them for each holder.
 */
import { SyError } from '../errors.js';
import { faultStep } from '../faults.js';
import { isOwnedLink } from '../model/names.js';
import type { BridgePlan } from '../plan/host-plan.js';
import { run } from './run.js';

interface IpAddr {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  broadcast?: string;
  scope?: string;
  label?: string;
  noprefixroute?: boolean;
  dynamic?: boolean;
  valid_life_time?: number;
}

interface IpLinkAddrs {
  ifname: string;
  address?: string;
  master?: string;
  link_type?: string;
  operstate?: string;
  flags?: string[];
  mtu?: number;
  linkinfo?: { info_kind?: string };
  addr_info?: IpAddr[];
}

interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
  table?: string;
  type?: string;
  flags?: string[];
}

/** A host adapter as the uplink checks see it. */
export interface AdapterState {
  name: string;
  mac: string;
  /** link_type: ether for an Ethernet adapter */
  linkType: string;
  /** kind of a virtual link (bridge, veth, vxlan, macvlan...), absent for a plain NIC */
  kind?: string;
  master?: string;
  up: boolean;
  mtu: number;
  /** the addresses that move with it (IPv4, IPv6 but link-local), "addr/len" */
  addresses: { address: string; family: 'inet' | 'inet6'; dynamic: boolean }[];
  /** the same as `ip addr` arguments (flags and broadcast kept), for the move */
  addressSpecs: string[];
}

const FOREVER = 4294967295;

function movable(a: IpAddr): boolean {
  return a.family === 'inet' || (a.family === 'inet6' && a.scope !== 'link');
}

/** The adapter `name` in hostd's namespace, or undefined when there is none. */
export async function readAdapter(name: string): Promise<AdapterState | undefined> {
  const res = await run(['ip', '-j', '-d', 'addr', 'show', 'dev', name], { okExitCodes: [1] });
  if (res.exitCode !== 0) return undefined;
  const l = (JSON.parse(res.stdout || '[]') as IpLinkAddrs[])[0];
  if (!l) return undefined;
  return {
    name: l.ifname,
    mac: (l.address ?? '').toLowerCase(),
    linkType: l.link_type ?? '',
    ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}),
    ...(l.master ? { master: l.master } : {}),
    up: (l.flags ?? []).includes('UP'),
    mtu: l.mtu ?? 1500,
    addresses: (l.addr_info ?? []).filter(movable).map((a) => ({
      address: `${a.local}/${a.prefixlen}`,
      family: a.family,
      dynamic: !!a.dynamic || (a.valid_life_time !== undefined && a.valid_life_time !== FOREVER),
    })),
    addressSpecs: specsOf(l.addr_info ?? []),
  };
}

/** The link's addresses that move, as `ip addr` arguments (flags and broadcast kept). */
async function addressSpecs(dev: string): Promise<string[]> {
  const { stdout } = await run(['ip', '-j', 'addr', 'show', 'dev', dev]);
  return specsOf((JSON.parse(stdout || '[]') as IpLinkAddrs[])[0]?.addr_info ?? []);
}

function specsOf(addrs: IpAddr[]): string[] {
  return addrs.filter(movable).map((a) =>
    [
      `${a.local}/${a.prefixlen}`,
      ...(a.broadcast ? ['brd', a.broadcast] : []),
      ...(a.scope && a.scope !== 'global' ? ['scope', a.scope] : []),
      ...(a.noprefixroute ? ['noprefixroute'] : []),
    ].join(' '),
  );
}

/** The routes through `dev` that the kernel did not make itself, as `ip route` arguments without the device. */
async function routeSpecs(dev: string): Promise<string[]> {
  const out: string[] = [];
  for (const family of ['-4', '-6']) {
    const { stdout } = await run(['ip', '-j', family, 'route', 'show', 'table', 'all', 'dev', dev]);
    for (const r of JSON.parse(stdout || '[]') as IpRoute[]) {
      if (r.protocol === 'kernel' || r.table === 'local' || (r.type && r.type !== 'unicast')) continue;
      const dst = r.dst === 'default' ? (family === '-4' ? '0.0.0.0/0' : '::/0') : r.dst;
      out.push(
        [
          dst,
          ...(r.gateway ? ['via', r.gateway] : []),
          ...(r.table && r.table !== 'main' ? ['table', r.table] : []),
          ...(r.protocol && r.protocol !== 'boot' ? ['proto', r.protocol] : []),
          ...(r.scope && r.scope !== 'global' ? ['scope', r.scope] : []),
          ...(r.prefsrc ? ['src', r.prefsrc] : []),
          ...(r.metric !== undefined ? ['metric', String(r.metric)] : []),
          ...((r.flags ?? []).includes('onlink') ? ['onlink'] : []),
        ].join(' '),
      );
    }
  }
  return out;
}

/**
 * The batch that moves `from`'s addresses and routes to `to`, with `port` (the port change) in the
 * middle; `known`: `from`'s addresses when the caller has just read them.
 */
async function moveBatch(from: string, to: string, port: string[], known?: string[]): Promise<string[]> {
  const [addrs, routes] = await Promise.all([known ?? addressSpecs(from), routeSpecs(from)]);
  return [
    ...addrs.map((a) => `addr replace ${a} dev ${to}`),
    ...port,
    ...routes.map((r) => `route replace ${r} dev ${to}`),
    ...addrs.map((a) => `addr del ${a.split(' ')[0]} dev ${from}`),
  ];
}

/**
 * Makes the switch bridge of `b` (with the adapter's MAC) if missing and makes the adapter its port,
 * moving the adapter's addresses and routes onto it. Idempotent: an adapter already its port is left
 * as it is. Refuses (SY_IN_USE) an adapter that is a port of another bridge, and one whose address is
 * leased (moving it would stop its DHCP client's renewals, and the host would lose it).
 */
export async function ensureSwitch(b: BridgePlan, exists: boolean, up: boolean): Promise<void> {
  const name = b.uplink!;
  const adapter = await readAdapter(name);
  if (!adapter) throw new SyError('SY_KERNEL', `Adapter "${name}" of bridge "${b.name}" does not exist`);
  if (adapter.master && adapter.master !== b.name) throw new SyError('SY_IN_USE', `Adapter "${name}" is a port of "${adapter.master}"`);
  const cmds: string[] = [];
  if (!exists) cmds.push(`link add ${b.name} address ${b.mac} mtu ${b.mtu ?? adapter.mtu} type bridge`);
  if (adapter.master !== b.name) {
    const leased = adapter.addresses.find((a) => a.dynamic);
    if (leased) throw new SyError('SY_IN_USE', `Adapter "${name}" holds ${leased.address} leased by DHCP: moving it onto "${b.name}" would stop its renewals and cut the host off`);
    cmds.push(...(await moveBatch(name, b.name, [`link set ${b.name} up`, `link set ${name} master ${b.name}`, `link set ${name} up`], adapter.addressSpecs)));
  } else if (!up) cmds.push(`link set ${b.name} up`);
  if (!cmds.length) return;
  faultStep(`kernel: switch ${b.name}`);
  await run(['ip', '-batch', '-'], { stdin: cmds.join('\n') + '\n' });
}

/**
 * Gives a switch bridge's adapter back (the bridge's addresses and routes onto it, then no master)
 * and deletes the bridge. A bridge without an adapter port is just deleted.
 */
export async function releaseSwitch(bridge: string): Promise<void> {
  const { stdout } = await run(['ip', '-j', 'link', 'show', 'master', bridge], { okExitCodes: [1] });
  const ports = (JSON.parse(stdout || '[]') as IpLinkAddrs[]).filter((l) => !isOwnedLink(l.ifname));
  const cmds: string[] = [];
  const adapter = ports[0]?.ifname;
  if (adapter) cmds.push(...(await moveBatch(bridge, adapter, [`link set ${adapter} nomaster`])).filter((l) => !l.startsWith('addr del')));
  for (const p of ports.slice(1)) cmds.push(`link set ${p.ifname} nomaster`);
  cmds.push(`link del ${bridge}`);
  faultStep(`kernel: release ${bridge}`);
  await run(['ip', '-force', '-batch', '-'], { stdin: cmds.join('\n') + '\n', okExitCodes: [1] });
}
