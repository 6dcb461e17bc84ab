/**
 * An Overlay network create request checked completely and turned into its record (nothing changes
 * here): every subnet with its VSID and gateway, the host's provider address (one of this host's
 * addresses), the VXLAN port and the DR MAC. Subnets may share a VSID or have their own; a VSID
 * belongs to one network of a host: its VNI names a VXLAN device, which the kernel allows once per
 * port and address.
 */
import { SyError } from '../errors.js';
import type { HostComputeNetwork } from '../hcn/schema.js';
import { checkHostAddress, cidrToString, intToIp, parseCidr } from '../model/ipv4.js';
import { parseDns } from '../model/dns.js';
import { parseNetworkAcls } from '../model/acl.js';
import { isPolicyType, parseMacPool, parseNetworkPolicies } from '../model/network-settings.js';
import { checkSubnetsApart, MAX_VSIDS, OVERLAY_NETWORK_POLICIES, parseOverlayPolicies, parseVsid, VXLAN_OVERHEAD, type OverlaySubnet } from '../model/overlay.js';
import type { NetworkRecord } from '../model/records.js';
import type { NetworkRequestContext } from './network-request.js';

export async function overlayNetworkRecord(doc: HostComputeNetwork, name: string, ctx: NetworkRequestContext): Promise<NetworkRecord> {
  const all = doc.Policies ?? [];
  const own = all.filter((p) => OVERLAY_NETWORK_POLICIES.some((t) => isPolicyType(p, t)));
  const rest = all.filter((p) => !own.includes(p));
  const acls = parseNetworkAcls(rest, 'Policies');
  const { stored, adapter } = parseNetworkPolicies(rest, 'Overlay');
  if (adapter) throw new SyError('SY_NOT_SUPPORTED', 'An Overlay network takes no NetAdapterName: its traffic leaves as VXLAN from its ProviderAddress, by whatever interface holds it');
  if (rest.some((p) => isPolicyType(p, 'HostAccess'))) throw new SyError('SY_NOT_SUPPORTED', 'HostAccess is a NAT network\'s');
  if (doc.Internal) throw new SyError('SY_NOT_SUPPORTED', 'An Overlay network cannot be internal');
  const { providerAddress, port, drMac } = parseOverlayPolicies(own);
  const macPool = parseMacPool(doc.MacPool);
  if (doc.MTU !== undefined && (doc.MTU < 576 || doc.MTU > 65535)) throw new SyError('SY_BAD_REQUEST', `MTU ${doc.MTU} is out of range (576-65535)`);

  const subnets: OverlaySubnet[] = [];
  let vni: number | undefined;
  for (const [i, ipam] of (doc.Ipams ?? []).entries()) {
    if ((ipam.Type ?? 'Static').toLowerCase() !== 'static') throw new SyError('SY_NOT_SUPPORTED', `Ipam Type "${ipam.Type}" is not supported on Overlay networks; use Static`);
    for (const [j, sub] of (ipam.Subnets ?? []).entries()) {
      const where = `Ipams[${i}].Subnets[${j}]`;
      if (!sub.IpAddressPrefix) throw new SyError('SY_BAD_REQUEST', `${where}: an Overlay subnet needs its IpAddressPrefix`);
      const cidr = parseCidr(sub.IpAddressPrefix);
      if (cidr.prefix > 30 || cidr.prefix < 8) throw new SyError('SY_INVALID_SUBNET', `Subnet "${sub.IpAddressPrefix}" must be between /8 and /30`);
      let vsid: number | undefined;
      for (const [k, p] of (sub.Policies ?? []).entries()) {
        if (!isPolicyType(p, 'VSID')) throw new SyError('SY_NOT_SUPPORTED', `${where}.Policies[${k}]: subnet policy "${p.Type}" is not supported on Overlay networks; VSID is`);
        vsid = parseVsid(p.Settings, `${where}.Policies[${k}]`);
      }
      if (vsid === undefined) throw new SyError('SY_BAD_REQUEST', `${where}: an Overlay subnet needs its VSID: {"Type": "VSID", "Settings": {"IsolationId": 4096}}`);
      vni ??= vsid;
      let gateway = intToIp(cidr.base + 1);
      for (const r of sub.Routes ?? []) {
        if ((r.DestinationPrefix ?? '0.0.0.0/0') !== '0.0.0.0/0') throw new SyError('SY_NOT_SUPPORTED', `${where}: route to "${r.DestinationPrefix}" is not supported; only the default route names the gateway`);
        if (r.NextHop) gateway = r.NextHop;
      }
      checkHostAddress(gateway, cidr, `${where}: gateway`);
      subnets.push({ prefix: cidrToString(cidr), vni: vsid, gateway });
    }
  }
  if (!subnets.length || vni === undefined) throw new SyError('SY_BAD_REQUEST', 'An Overlay network needs at least one subnet: Ipams[0].Subnets[0] with IpAddressPrefix and a VSID policy');
  checkSubnetsApart(subnets);
  const vsids = new Set(subnets.map((s) => s.vni));
  if (vsids.size > MAX_VSIDS) throw new SyError('SY_NOT_SUPPORTED', `An Overlay network takes at most ${MAX_VSIDS} VSIDs`);

  // A VNI names one VXLAN device per port and address: one network of this host has it.
  for (const n of ctx.state.networks.values()) {
    const taken = n.overlay?.subnets.find((s) => vsids.has(s.vni));
    if (taken) throw new SyError('SY_IN_USE', `VSID ${taken.vni} is already a subnet of virtual network "${n.name}" on this host`);
  }
  // The underlay's MTU: the network's MTU if given, else that of the link holding the PA.
  const underlay = await ctx.dp.addressLink(providerAddress);
  if (!underlay) throw new SyError('SY_BAD_REQUEST', `ProviderAddress ${providerAddress} is not an address of this host`);
  const mtu = doc.MTU ?? underlay.mtu;
  if (mtu - VXLAN_OVERHEAD < 576) throw new SyError('SY_BAD_REQUEST', `The underlay MTU ${mtu} (${doc.MTU ? 'MTU' : underlay.name}) leaves less than 576 bytes inside VXLAN`);
  return {
    id: ctx.newId(doc.ID ?? doc.Id),
    name,
    type: 'Overlay',
    overlay: { vni, providerAddress, port, drMac, subnets },
    subnet: subnets[0]!.prefix,
    gateway: subnets[0]!.gateway,
    dns: parseDns(doc.Dns, 'network Dns') ?? { search: [], servers: [], options: [] },
    mtu,
    ...(macPool ? { macPool } : {}),
    flags: doc.Flags ?? 0,
    policies: [...stored, ...own],
    ...(acls.length ? { acls } : {}),
    createdAt: new Date().toISOString(),
  };
}
