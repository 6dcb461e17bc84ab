/**
 * The kernel entries that make an overlay remote endpoint reachable ("CA with MAC X lives behind PA
 * P"), programmed statically, never learned:
 *  - `fdb`: on the VXLAN device of its subnet's VSID, MAC → PA (`bridge fdb replace MAC dev VX dst PA self permanent`);
 *  - `port`: on the bridge, MAC → the VXLAN port (`bridge fdb replace MAC dev VX master static`);
 *  - `neigh`: on the bridge, CA → MAC (`ip neigh replace CA lladdr MAC dev BR nud permanent`): the
 *    host routes with it, and the bridge answers endpoints' ARP from it (neigh_suppress).
 * An entry's key is what the kernel holds once (a MAC on a device, an address on a device); its
 * value is what it points at. Pure: which entries to remove and which to write, from two lists.
 */
import type { EndpointRecord, NetworkRecord } from '../model/records.js';
import { overlayBridgeName } from '../model/names.js';
import { vxlanOf } from '../model/overlay.js';

export type RemoteEntry =
  | { kind: 'fdb'; dev: string; mac: string; dst: string }
  | { kind: 'port'; dev: string; mac: string }
  | { kind: 'neigh'; dev: string; ip: string; mac: string };

/** The entries of one remote endpoint of an overlay network (its ProviderAddress policy names its host). */
export function remoteEntries(ep: EndpointRecord, net: NetworkRecord): RemoteEntry[] {
  const pa = ep.policies.providerAddress;
  if (!pa) throw new Error(`plan: remote endpoint ${ep.id} has no provider address`);
  const vx = vxlanOf(net, ep.ip);
  if (!vx) throw new Error(`plan: remote endpoint ${ep.id} is on no subnet of network ${net.id}`);
  return [
    { kind: 'fdb', dev: vx, mac: ep.mac, dst: pa },
    { kind: 'port', dev: vx, mac: ep.mac },
    { kind: 'neigh', dev: overlayBridgeName(net.id), ip: ep.ip, mac: ep.mac },
  ];
}

/** What the kernel holds once per device: a MAC's FDB entry of each kind, an address's neighbour. */
export function entryKey(e: RemoteEntry): string {
  return e.kind === 'neigh' ? `neigh ${e.dev} ${e.ip}` : `${e.kind} ${e.dev} ${e.mac}`;
}

/** The entry with what it points at. */
export function entryText(e: RemoteEntry): string {
  return e.kind === 'fdb' ? `${entryKey(e)} dst ${e.dst}` : e.kind === 'neigh' ? `${entryKey(e)} lladdr ${e.mac}` : entryKey(e);
}

/**
 * From the entries there (`have`: the kernel's, or what the last pass applied) to those wanted:
 * `remove` holds only entries whose key nothing wanted takes (a moved endpoint's entries are
 * replaced in place, never removed and written again), `write` the wanted ones not there as wanted.
 */
export function entriesChange(have: RemoteEntry[], want: RemoteEntry[]): { remove: RemoteEntry[]; write: RemoteEntry[] } {
  const wantKeys = new Set(want.map(entryKey));
  const haveTexts = new Set(have.map(entryText));
  return { remove: have.filter((e) => !wantKeys.has(entryKey(e))), write: want.filter((e) => !haveTexts.has(entryText(e))) };
}
