/**
 * logicalNetworks: the provider networks (underlay) that virtual networks run over; admins only.
 * Each subnet has its prefix, VLAN, gateways and DNS servers, and IP pools inside its prefix.
 */
import { Type } from '@sinclair/typebox';
import { SyError } from '../../errors.js';
import { cidrContains } from '../../model/ipv4.js';
import { parseIp, parsePrefix } from '../allocation.js';
import type { ChildDoc, Props, ResourceKind } from '../kind.js';
import { Address, ChildResource, Properties, ResourceId, TopResource } from '../schema.js';
import { noOverlap } from './virtual-networks.js';

const IpPool = Type.Object(
  { resourceId: Type.Optional(ResourceId), properties: Type.Object({ startIpAddress: Address, endIpAddress: Address }, { additionalProperties: false }) },
  { additionalProperties: false },
);

export const LogicalSubnet = ChildResource(
  {
    addressPrefix: Address,
    vlanID: Type.Optional(Type.Integer({ minimum: 0, maximum: 4094 })),
    defaultGateways: Type.Optional(Type.Array(Address, { maxItems: 8 })),
    dnsServers: Type.Optional(Type.Array(Address, { maxItems: 8 })),
    ipPools: Type.Optional(Type.Array(IpPool, { maxItems: 64 })),
    isPublic: Type.Optional(Type.Boolean()),
  },
  'A subnet of a logical network',
);

export const logicalNetworks: ResourceKind = {
  collection: 'logicalNetworks',
  title: 'LogicalNetwork',
  adminOnly: true,
  body: TopResource(
    Properties({ networkVirtualizationEnabled: Type.Optional(Type.Boolean()), subnets: Type.Optional(Type.Array(LogicalSubnet, { maxItems: 1024 })) }),
    'A provider network',
  ),
  children: [{ name: 'subnets', schema: LogicalSubnet }],

  async check(c) {
    const subnets = c.doc.properties.subnets as ChildDoc[];
    const at = (i: number) => `/properties/subnets/${i}/properties`;
    const cidrs = subnets.map((s, i) => parsePrefix(s.properties.addressPrefix as string, `${at(i)}/addressPrefix`));
    noOverlap(cidrs, (i) => `${at(i)}/addressPrefix`, subnets.map((s) => s.properties.addressPrefix as string));
    for (const [i, s] of subnets.entries()) {
      const p = s.properties;
      const cidr = cidrs[i]!;
      for (const [j, g] of ((p.defaultGateways ?? []) as string[]).entries()) {
        if (!cidrContains(cidr, parseIp(g, `${at(i)}/defaultGateways/${j}`))) throw new SyError('SY_INVALID_ADDRESS', `${at(i)}/defaultGateways/${j}: ${g} is outside ${String(p.addressPrefix)}`);
      }
      for (const [j, d] of ((p.dnsServers ?? []) as string[]).entries()) parseIp(d, `${at(i)}/dnsServers/${j}`);
      const pools = ((p.ipPools ?? []) as { properties: Props }[]).map((pool, j) => {
        const f = `${at(i)}/ipPools/${j}/properties`;
        const a = parseIp(pool.properties.startIpAddress as string, `${f}/startIpAddress`);
        const b = parseIp(pool.properties.endIpAddress as string, `${f}/endIpAddress`);
        if (!cidrContains(cidr, a) || !cidrContains(cidr, b)) throw new SyError('SY_INVALID_ADDRESS', `${f}: the pool must lie inside ${String(p.addressPrefix)}`);
        if (a > b) throw new SyError('SY_INVALID_ADDRESS', `${f}: startIpAddress comes after endIpAddress`);
        return { a, b, f };
      });
      for (const [j, x] of pools.entries()) {
        const clash = pools.findIndex((y, k) => k < j && x.a <= y.b && y.a <= x.b);
        if (clash >= 0) throw new SyError('SY_INVALID_ADDRESS', `${x.f}: overlaps ipPools/${clash}`);
      }
    }
  },
};
