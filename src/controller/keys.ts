/**
 * Where the controller keeps everything in the store. Controllers are stateless replicas: resources,
 * back references, address claims, tokens, the audit log and (from the hosts) configuration states
 * all live under these keys, so any replica can serve any request and hosts can watch a prefix.
 *
 *   /nc/res/<collection>/<id>             a top-level resource with its children inline (JSON StoredRecord)
 *   /nc/backref<targetRef>@<sourceRef>    "" : sourceRef refers to targetRef (e.g. an ipConfiguration → a subnet)
 *   /nc/refver<targetRef>                 bumped by every write that adds a reference to targetRef; a delete
 *                                         of targetRef compares it, so a reference added meanwhile fails it
 *   /nc/alloc/ip<subnetRef>/<8 hex>       owner ipConfiguration ref of a private IP (hex: key order = address order)
 *   /nc/alloc/mac/<12 hex>                owner networkInterface ref of a MAC address
 *   /nc/alloc/vsid/<6 hex>                owner virtual subnet ref of a VSID
 *   /nc/alloc/pip/<8 hex>                 owner publicIPAddress ref of a public IP
 *   /nc/alloc/pipbind<publicIPRef>        the one ipConfiguration a public IP is bound to
 *   /nc/guard/<name>                      bumped by writes that others' checks depend on as a whole (macPools)
 *   /nc/token/<tokenId>                   a bearer token's hash, tenant and role
 *   /nc/audit/<ms, 13 digits>-<random>    who changed what; its modRevision is the etag after the change
 *   /nc/status<resourceRef>               configurationState reported by the hosts (next issue), merged into GETs
 *
 * resourceIds cannot hold "/" or "@" (schema.ts RESOURCE_ID), so a ref followed by "@" or "/" is an
 * exact prefix of what belongs to it.
 */

export const ROOT = '/nc/';

export const resourceKey = (collection: string, id: string): string => `/nc/res/${collection}/${id}`;
export const collectionPrefix = (collection: string): string => `/nc/res/${collection}/`;

export const backrefKey = (target: string, source: string): string => `/nc/backref${target}@${source}`;
/** every back reference to exactly `target` */
export const backrefsTo = (target: string): string => `/nc/backref${target}@`;
/** every back reference to `parentRef`'s children (e.g. all subnets of a virtual network) */
export const backrefsUnder = (parentRef: string): string => `/nc/backref${parentRef}/`;
/** the source ref of a back reference key */
export function backrefParts(key: string): { target: string; source: string } {
  const rest = key.slice('/nc/backref'.length);
  const at = rest.indexOf('@');
  return { target: rest.slice(0, at), source: rest.slice(at + 1) };
}
export const refverKey = (target: string): string => `/nc/refver${target}`;

export const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
export const ipClaimPrefix = (subnetRef: string): string => `/nc/alloc/ip${subnetRef}/`;
export const ipClaimKey = (subnetRef: string, ip: number): string => `${ipClaimPrefix(subnetRef)}${hex(ip, 8)}`;
export const MAC_CLAIMS = '/nc/alloc/mac/';
export const macClaimKey = (mac: number): string => `${MAC_CLAIMS}${hex(mac, 12)}`;
export const VSID_CLAIMS = '/nc/alloc/vsid/';
export const vsidClaimKey = (vsid: number): string => `${VSID_CLAIMS}${hex(vsid, 6)}`;
export const publicIpClaimKey = (ip: number): string => `/nc/alloc/pip/${hex(ip, 8)}`;
export const publicIpBindKey = (pipRef: string): string => `/nc/alloc/pipbind${pipRef}`;
export const guardKey = (name: string): string => `/nc/guard/${name}`;

export const TOKENS = '/nc/token/';
export const tokenKey = (id: string): string => `${TOKENS}${id}`;

export const AUDIT = '/nc/audit/';
export const statusKey = (ref: string): string => `/nc/status${ref}`;
export const statusPrefix = (ref: string): string => `/nc/status${ref}/`;
