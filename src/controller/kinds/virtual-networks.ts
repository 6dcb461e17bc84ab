/**
 * virtualNetworks: a tenant's address space and its subnets. Subnets lie inside the address space
 * and do not overlap; a subnet's prefix cannot change, nor the subnet go, while ipConfigurations use it
 * (their addresses were given from it). A subnet lists those ipConfigurations, read-only.
 */
import { Type } from '@sinclair/typebox';
import { SyError } from '../../errors.js';
import { cidrsOverlap, type Cidr } from '../../model/ipv4.js';
import { parsePrefix } from '../allocation.js';
import type { CheckContext } from '../check-context.js';
import type { ChildDoc, ResourceKind } from '../kind.js';
import { VSID_CLAIMS, vsidClaimKey } from '../keys.js';
import { Address, BackRefs, ChildResource, Properties, Ref, TopResource, topRef } from '../schema.js';

/** VSIDs below 4096 are reserved (as in HNS); 16777215 is the VXLAN VNI space's last, kept back */
export const VSID_FIRST = 4096;
export const VSID_LAST = 16_777_214;

export const VirtualNetworkSubnet = ChildResource(
  {
    addressPrefix: Address,
    accessControlList: Type.Optional(Ref(topRef('accessControlLists'), 'The ACL applied to the subnet')),
    routeTable: Type.Optional(Ref(topRef('routeTables'), 'The route table of the subnet')),
    ipConfigurations: Type.Optional(BackRefs),
    vsid: Type.Optional(Type.Integer({ minimum: VSID_FIRST, maximum: VSID_LAST, readOnly: true, description: 'The virtual subnet id (the VXLAN VNI hosts carry it in), given by the controller' })),
  },
  'A subnet of a virtual network',
);

export const virtualNetworks: ResourceKind = {
  collection: 'virtualNetworks',
  title: 'VirtualNetwork',
  adminOnly: false,
  body: TopResource(
    Properties({
      addressSpace: Type.Object({ addressPrefixes: Type.Array(Address, { minItems: 1, maxItems: 64 }) }, { additionalProperties: false }),
      logicalNetwork: Type.Optional(Ref(topRef('logicalNetworks'), 'The provider network it runs over')),
      subnets: Type.Optional(Type.Array(VirtualNetworkSubnet, { maxItems: 1024 })),
    }),
    'A tenant virtual network',
  ),
  children: [{ name: 'subnets', schema: VirtualNetworkSubnet, backRefs: { property: 'ipConfigurations', from: 'ipConfigurations' } }],

  async check(c) {
    const p = c.doc.properties as { addressSpace: { addressPrefixes: string[] }; subnets: ChildDoc[] };
    const space = p.addressSpace.addressPrefixes.map((a, i) => parsePrefix(a, `/properties/addressSpace/addressPrefixes/${i}`));
    noOverlap(space, (i) => `/properties/addressSpace/addressPrefixes/${i}`, p.addressSpace.addressPrefixes);
    const subnets: Cidr[] = [];
    for (const [i, s] of p.subnets.entries()) {
      const field = `/properties/subnets/${i}/properties/addressPrefix`;
      const text = s.properties.addressPrefix as string;
      const cidr = parsePrefix(text, field);
      if (!space.some((sp) => sp.prefix <= cidr.prefix && cidrsOverlap(sp, cidr))) {
        throw new SyError('SY_INVALID_SUBNET', `${field}: ${text} is outside the addressSpace (${p.addressSpace.addressPrefixes.join(', ')})`);
      }
      subnets.push(cidr);
    }
    noOverlap(subnets, (i) => `/properties/subnets/${i}/properties/addressPrefix`, p.subnets.map((s) => s.properties.addressPrefix as string));
    const before = new Map(((c.prev?.doc.properties.subnets ?? []) as ChildDoc[]).map((s) => [s.resourceId, s]));
    for (const [i, s] of p.subnets.entries()) {
      const old = before.get(s.resourceId);
      if (old && old.properties.addressPrefix !== s.properties.addressPrefix) {
        await c.assertUnreferenced(s.resourceRef, `Cannot change the addressPrefix of ${s.resourceRef} from ${String(old.properties.addressPrefix)}`);
      }
      await assignVsid(c, s, old, `/properties/subnets/${i}/properties/vsid`);
    }
  },
};

/** 400 naming both fields when two prefixes of one list overlap (a /16 and a /24 inside it do). */
export function noOverlap(cidrs: Cidr[], field: (i: number) => string, texts: string[]): void {
  for (let i = 0; i < cidrs.length; i++) {
    for (let j = 0; j < i; j++) {
      if (cidrsOverlap(cidrs[i]!, cidrs[j]!)) throw new SyError('SY_INVALID_SUBNET', `${field(i)}: ${texts[i]} overlaps ${texts[j]} (${field(j)})`);
    }
  }
}

/**
 * A subnet's VSID: the one it had (a GET written back carries it; another one is refused), else a
 * free one of the whole range, claimed so that no two subnets of any tenant share one.
 */
async function assignVsid(c: CheckContext, s: ChildDoc, old: ChildDoc | undefined, field: string): Promise<void> {
  const kept = old?.properties.vsid as number | undefined;
  const given = s.properties.vsid as number | undefined;
  if (given !== undefined && given !== kept) throw new SyError('SY_BAD_REQUEST', `${field}: ${given} was not given to ${s.resourceRef}; the controller gives VSIDs`);
  let vsid = kept;
  if (vsid !== undefined) await c.claim(vsidClaimKey(vsid), s.resourceRef, (holder) => `${field}: ${String(vsid)} is taken by ${holder}`);
  else {
    vsid = await c.allocate(VSID_CLAIMS, vsidClaimKey, [{ first: VSID_FIRST, last: VSID_LAST }], s.resourceRef, true);
    if (vsid === undefined) throw new SyError('SY_SUBNET_FULL', `${field}: every VSID is in use`);
  }
  s.properties.vsid = vsid;
}
