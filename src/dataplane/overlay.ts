/**
 * The kernel side of overlay networks (plan/modes/overlay.ts): the bridge with its gateways, its
 * VXLAN port, the network's routing table and the two rules that choose it; and the remote
 * endpoints' FDB and neighbour entries (plan/remote-entries.ts). Everything is read back and made
 * only where missing, so a pass after a crash or a link deleted behind hostd's back repairs it; what
 * is removed is only ever on Switchyard's own devices, or a rule naming one of its tables.
 */
import { SyError } from '../errors.js';
import { faultStep } from '../faults.js';
import { isIPv4 } from '../model/ipv4.js';
import { isVxlanPortOf, OVERLAY_PREFIX, ROUTE_PROTO, VXLAN_PREFIX } from '../model/names.js';
import { OVERLAY_RULE_PREF, OVERLAY_TABLE_BASE } from '../plan/modes/overlay.js';
import type { BridgePlan } from '../plan/host-plan.js';
import type { RemoteEntry } from '../plan/remote-entries.js';
import type { LinkState } from './dataplane.js';
import { run } from './run.js';

interface IpRule {
  priority?: number;
  iif?: string;
  fwmark?: string;
  table?: string;
}

interface LinkDetail {
  ifname: string;
  master?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; port?: number } };
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Switchyard's overlay rules: at its preference, naming a table of its range. */
async function overlayRules(): Promise<IpRule[]> {
  const { stdout } = await run(['ip', '-j', 'rule', 'show']);
  return (JSON.parse(stdout || '[]') as IpRule[]).filter((r) => r.priority === OVERLAY_RULE_PREF && isOverlayTable(Number(r.table)));
}

function isOverlayTable(t: number): boolean {
  return Number.isInteger(t) && t >= OVERLAY_TABLE_BASE && t < OVERLAY_TABLE_BASE + 0x1000000;
}

/** Makes what is missing of an overlay network's bridge, VXLAN port, gateways, table and rules. */
export async function ensureOverlayBridge(b: BridgePlan, existing: LinkState | undefined): Promise<void> {
  const o = b.overlay!;
  if (!b.name.startsWith(OVERLAY_PREFIX) || o.vxlans.some((v) => !v.name.startsWith(VXLAN_PREFIX))) throw new Error(`refusing overlay links of "${b.name}": not Switchyard's`);
  const all = (JSON.parse((await run(['ip', '-j', '-d', 'link', 'show', 'type', 'vxlan'])).stdout || '[]') as LinkDetail[]);
  const mtu = b.mtu ? ` mtu ${b.mtu}` : '';
  const cmds: string[] = [];
  if (!existing) cmds.push(`link add ${b.name} address ${b.mac}${mtu} type bridge`);
  for (const a of o.addresses) if (!existing?.addresses.includes(a)) cmds.push(`addr replace ${a} dev ${b.name} noprefixroute`);
  for (const want of o.vxlans) {
    const vx = all.find((l) => l.ifname === want.name);
    const info = vx?.linkinfo?.info_data;
    const vxOk = !!vx && info?.id === want.vni && info.local === o.local && info.port === o.port;
    if (vx && !vxOk) cmds.push(`link del ${want.name}`);
    // No remote, no group: the device never floods; every destination is an FDB entry of hostd's.
    if (!vxOk) cmds.push(`link add ${want.name}${mtu} type vxlan id ${want.vni} local ${o.local} dstport ${o.port} nolearning proxy`);
    if (!vxOk || vx?.master !== b.name) {
      cmds.push(`link set ${want.name} master ${b.name}`);
      cmds.push(`link set ${want.name} type bridge_slave neigh_suppress on learning off flood off mcast_flood off bcast_flood off`);
    }
    if (!vxOk || !vx?.flags?.includes('UP')) cmds.push(`link set ${want.name} up`);
  }
  if (!existing?.up) cmds.push(`link set ${b.name} up`);
  if (cmds.length) {
    faultStep(`kernel: overlay bridge ${b.name}`);
    await run(['ip', '-batch', '-'], { stdin: cmds.join('\n') + '\n' });
  }
  const routes = await run(['ip', '-j', 'route', 'show', 'table', String(o.table)], { okExitCodes: [1, 2] });
  const have = new Set((JSON.parse(routes.exitCode === 0 ? routes.stdout || '[]' : '[]') as { dst: string; dev?: string }[]).filter((r) => r.dev === b.name).map((r) => r.dst));
  const rules = await overlayRules();
  const mark = `0x${o.table.toString(16)}`;
  const more: string[] = [
    ...o.subnets.filter((s) => !have.has(s)).map((s) => `route replace ${s} dev ${b.name} table ${o.table} proto ${ROUTE_PROTO} scope link`),
    ...(rules.some((r) => r.iif === b.name && Number(r.table) === o.table) ? [] : [`rule add iif ${b.name} lookup ${o.table} pref ${OVERLAY_RULE_PREF}`]),
    ...(rules.some((r) => r.fwmark === mark && Number(r.table) === o.table) ? [] : [`rule add fwmark ${mark} lookup ${o.table} pref ${OVERLAY_RULE_PREF}`]),
  ];
  if (more.length) {
    faultStep(`kernel: overlay routes of ${b.name}`);
    await run(['ip', '-batch', '-'], { stdin: more.join('\n') + '\n' });
  }
}

/**
 * Before an overlay bridge is deleted: its VXLAN device and the rules that choose its table go
 * (the table's routes go with the bridge). Missing pieces are fine.
 */
export async function releaseOverlayBridge(name: string): Promise<void> {
  if (!name.startsWith(OVERLAY_PREFIX)) throw new Error(`refusing to release "${name}": not an overlay bridge`);
  const rules = await overlayRules();
  const tables = new Set(rules.filter((r) => r.iif === name).map((r) => Number(r.table)));
  const gone = rules.filter((r) => tables.has(Number(r.table)));
  const ports = (JSON.parse((await run(['ip', '-j', 'link', 'show', 'type', 'vxlan'])).stdout || '[]') as LinkDetail[]).filter((l) => isVxlanPortOf(l.ifname, name));
  const cmds = [
    ...ports.map((l) => `link del ${l.ifname}`),
    ...gone.map((r) => `rule del pref ${OVERLAY_RULE_PREF} ${r.iif ? `iif ${r.iif}` : `fwmark ${r.fwmark}`} lookup ${r.table}`),
  ];
  if (!cmds.length) return;
  faultStep(`kernel: release overlay ${name}`);
  await run(['ip', '-force', '-batch', '-'], { stdin: cmds.join('\n') + '\n', okExitCodes: [1] });
}

/**
 * Removes Switchyard's overlay rules whose table is none of `keep` (a network removed while its
 * bridge was already gone, so deleting the bridge could not take them along).
 */
export async function pruneOverlayRules(keep: number[]): Promise<void> {
  const stray = (await overlayRules()).filter((r) => !keep.includes(Number(r.table)));
  if (!stray.length) return;
  faultStep('kernel: stray overlay rules');
  const cmds = stray.map((r) => `rule del pref ${OVERLAY_RULE_PREF} ${r.iif ? `iif ${r.iif}` : `fwmark ${r.fwmark}`} lookup ${r.table}`);
  await run(['ip', '-force', '-batch', '-'], { stdin: cmds.join('\n') + '\n', okExitCodes: [1] });
}

/** The remote entries the kernel holds on these overlay networks' devices (only Switchyard's kinds). */
export async function listRemoteEntries(devices: { bridge: string; vxlans: string[] }[]): Promise<RemoteEntry[]> {
  const out: RemoteEntry[] = [];
  for (const d of devices) {
    // every port's entries, the VXLAN devices' own (self) ones among them
    const fdb = await run(['bridge', '-j', 'fdb', 'show', 'br', d.bridge], { okExitCodes: [1, 255] });
    type Fdb = { mac: string; ifname?: string; dst?: string; master?: string; flags?: string[]; state?: string };
    for (const f of fdb.exitCode === 0 ? (JSON.parse(fdb.stdout || '[]') as Fdb[]) : []) {
      if (!f.ifname || !d.vxlans.includes(f.ifname)) continue;
      if (f.flags?.includes('self') && f.dst) out.push({ kind: 'fdb', dev: f.ifname, mac: f.mac, dst: f.dst });
      else if (f.master === d.bridge && f.state === 'static') out.push({ kind: 'port', dev: f.ifname, mac: f.mac });
    }
    const neigh = await run(['ip', '-j', 'neigh', 'show', 'dev', d.bridge, 'nud', 'permanent'], { okExitCodes: [1] });
    for (const n of neigh.exitCode === 0 ? (JSON.parse(neigh.stdout || '[]') as { dst: string; lladdr?: string }[]) : []) {
      if (n.lladdr && isIPv4(n.dst)) out.push({ kind: 'neigh', dev: d.bridge, ip: n.dst, mac: n.lladdr });
    }
  }
  return out;
}

/** Removes then writes remote entries, each kind in one batch; removing what is gone is fine. */
export async function applyRemoteEntries(remove: RemoteEntry[], write: RemoteEntry[]): Promise<void> {
  for (const e of [...remove, ...write]) {
    const ours = e.kind === 'neigh' ? e.dev.startsWith(OVERLAY_PREFIX) : e.dev.startsWith(VXLAN_PREFIX);
    if (!ours || !MAC.test(e.mac) || (e.kind === 'fdb' && !isIPv4(e.dst)) || (e.kind === 'neigh' && !isIPv4(e.ip))) {
      throw new SyError('SY_INTERNAL', `Refusing remote entry on "${e.dev}" for ${e.mac}: not Switchyard's or malformed`);
    }
  }
  const fdbDel = remove.filter((e) => e.kind !== 'neigh').map((e) => `fdb del ${e.mac} dev ${e.dev} ${e.kind === 'fdb' ? 'self' : 'master'}`);
  const neighDel = remove.flatMap((e) => (e.kind === 'neigh' ? [`neigh del ${e.ip} dev ${e.dev}`] : []));
  const fdbAdd = write.flatMap((e) => (e.kind === 'fdb' ? [`fdb replace ${e.mac} dev ${e.dev} dst ${e.dst} self permanent`] : e.kind === 'port' ? [`fdb replace ${e.mac} dev ${e.dev} master static`] : []));
  const neighAdd = write.flatMap((e) => (e.kind === 'neigh' ? [`neigh replace ${e.ip} lladdr ${e.mac} dev ${e.dev} nud permanent`] : []));
  if (fdbDel.length || neighDel.length) faultStep('kernel: remote entries out');
  if (fdbDel.length) await run(['bridge', '-force', '-batch', '-'], { stdin: fdbDel.join('\n') + '\n', okExitCodes: [1, 255] });
  if (neighDel.length) await run(['ip', '-force', '-batch', '-'], { stdin: neighDel.join('\n') + '\n', okExitCodes: [1] });
  if (fdbAdd.length || neighAdd.length) faultStep('kernel: remote entries in');
  if (fdbAdd.length) await run(['bridge', '-batch', '-'], { stdin: fdbAdd.join('\n') + '\n' });
  if (neighAdd.length) await run(['ip', '-batch', '-'], { stdin: neighAdd.join('\n') + '\n' });
}
