/**
 * DNS settings of a network or an endpoint (HCN Dns: Domain or hcsshim's Suffix, Search, ServerList,
 * Options), checked before any of it reaches a resolv.conf. Pure.
 */
import { SyError } from '../errors.js';
import type { Dns } from '../hcn/schema.js';
import { isIPv4 } from './ipv4.js';
import type { DnsSettings } from './records.js';

/** A DNS domain as resolv.conf may hold it (no space, no comment sign). */
export function isDnsDomain(s: string): boolean {
  return DOMAIN.test(s);
}

const DOMAIN = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$/;

export function parseDns(d: Dns | undefined, what: string): DnsSettings | undefined {
  if (!d) return undefined;
  const domain = d.Domain || d.Suffix || undefined;
  const servers = d.ServerList ?? [];
  const search = d.Search ?? [];
  const options = d.Options ?? [];
  for (const s of servers) if (!isIPv4(s)) throw new SyError('SY_BAD_REQUEST', `${what}: ServerList entry "${s}" is not an IPv4 address`);
  for (const s of [...(domain ? [domain] : []), ...search]) {
    if (!DOMAIN.test(s)) throw new SyError('SY_BAD_REQUEST', `${what}: "${s}" is not a DNS domain`);
  }
  for (const o of options) if (!/^[A-Za-z0-9_:.-]{1,64}$/.test(o)) throw new SyError('SY_BAD_REQUEST', `${what}: option "${o}" is not valid`);
  if (!domain && !servers.length && !search.length && !options.length) return undefined;
  return { ...(domain ? { domain } : {}), servers, search, options };
}

