/**
 * accessControlLists: ordered allow/deny rules per direction, applied to subnets and ipConfigurations
 * that refer to the list. Priorities are unique per direction (the order must be total).
 */
import { Type } from '@sinclair/typebox';
import { SyError } from '../../errors.js';
import { parseIp, parsePrefix } from '../allocation.js';
import type { ChildDoc, ResourceKind } from '../kind.js';
import { Address, ChildResource, Properties, Text, TopResource } from '../schema.js';

const lit = (...xs: string[]) => Type.Union(xs.map((x) => Type.Literal(x)));

export const AclRule = ChildResource(
  {
    protocol: lit('TCP', 'UDP', 'ICMP', 'All'),
    sourcePortRange: Type.Optional(Text(16)),
    destinationPortRange: Type.Optional(Text(16)),
    sourceAddressPrefix: Type.Optional(Address),
    destinationAddressPrefix: Type.Optional(Address),
    action: lit('Allow', 'Deny'),
    type: lit('Inbound', 'Outbound'),
    priority: Type.Integer({ minimum: 1, maximum: 65500 }),
    description: Type.Optional(Text(1024)),
    logging: Type.Optional(lit('Enabled', 'Disabled')),
  },
  'A rule of an access control list',
);

export const accessControlLists: ResourceKind = {
  collection: 'accessControlLists',
  title: 'AccessControlList',
  adminOnly: false,
  body: TopResource(Properties({ aclRules: Type.Optional(Type.Array(AclRule, { maxItems: 1000 })) }), 'An access control list'),
  children: [{ name: 'aclRules', schema: AclRule }],

  async check(c) {
    const seen = new Map<string, number>();
    for (const [i, r] of (c.doc.properties.aclRules as ChildDoc[]).entries()) {
      const p = r.properties;
      const f = `/properties/aclRules/${i}/properties`;
      for (const k of ['sourcePortRange', 'destinationPortRange'] as const) {
        const v = (p[k] as string | undefined) ?? '*';
        checkPortRange(v, `${f}/${k}`);
        if (v !== '*' && (p.protocol === 'ICMP' || p.protocol === 'All')) throw new SyError('SY_INVALID_POLICY', `${f}/${k}: ports apply to TCP and UDP only, not ${String(p.protocol)}`);
        p[k] = v;
      }
      for (const k of ['sourceAddressPrefix', 'destinationAddressPrefix'] as const) {
        const v = (p[k] as string | undefined) ?? '*';
        checkAddressPrefix(v, `${f}/${k}`);
        p[k] = v;
      }
      p.logging ??= 'Disabled';
      const key = `${String(p.type)} ${String(p.priority)}`;
      const other = seen.get(key);
      if (other !== undefined) throw new SyError('SY_INVALID_POLICY', `${f}/priority: ${String(p.priority)} is already the priority of ${String(p.type)} rule aclRules/${other}`);
      seen.set(key, i);
    }
  },
};

/** "*", "80" or "8000-8080". */
export function checkPortRange(v: string, field: string): void {
  if (v === '*') return;
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v);
  const a = m ? Number(m[1]) : NaN;
  const b = m?.[2] !== undefined ? Number(m[2]) : a;
  if (!m || a > 65535 || b > 65535 || a > b) throw new SyError('SY_INVALID_POLICY', `${field}: "${v}" is not "*", a port or a range "low-high" within 0-65535`);
}

/** "*", an IPv4 address or an IPv4 prefix. */
export function checkAddressPrefix(v: string, field: string): void {
  if (v === '*') return;
  if (v.includes('/')) parsePrefix(v, field);
  else parseIp(v, field);
}
