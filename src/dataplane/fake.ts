/**
 * An in-memory data plane with the same contract as LinuxDataPlane: good enough to run the
 * reconciler and the host service without root, and to dump what it holds for golden files.
 * Failures can be injected per verb to test rollback.
 */
import { SyError } from '../errors.js';
import type { BridgePlan, NamespacePlan, Sysctl, VethPlan } from '../plan/host-plan.js';
import { elementKey, patchTable, renderTable, type NftElement, type NftTable } from '../plan/nft-table.js';
import { socketClashes, type PortRequest } from '../model/ports.js';
import type { DataPlane, ElementCounter, LinkState, LinkStats, ListeningSocket, PeerState } from './dataplane.js';
import type { AdapterState } from './uplink.js';
import { entryKey, entryText, type RemoteEntry } from '../plan/remote-entries.js';
import { isVxlanPortOf } from '../model/names.js';

export class FakeDataPlane implements DataPlane {
  links = new Map<string, LinkState & { peer?: VethPlan; uplink?: string }>();
  namespaces = new Set<string>();
  files = new Map<string, string>();
  sysctls = new Map<string, string>();
  nft: NftTable | null = null;
  nftBridge: NftTable | null = null;
  nftNetdev: NftTable | null = null;
  iptablesAccept = false;
  listening: ListeningSocket[] = [];
  addresses = ['192.0.2.1', '127.0.0.1'];
  /** the host's own interfaces besides lo and Switchyard's links */
  uplinks = ['eth0'];
  routes: { dst: string; dev: string }[] = [{ dst: '192.0.2.0/24', dev: 'eth0' }];
  /** verb name → error to throw on its next call (on its next N calls with failTimes) */
  failNext = new Map<string, Error>();
  failTimes = new Map<string, number>();

  private hit(verb: string): void {
    const err = this.failNext.get(verb);
    if (err) {
      const left = (this.failTimes.get(verb) ?? 1) - 1;
      if (left > 0) this.failTimes.set(verb, left);
      else {
        this.failNext.delete(verb);
        this.failTimes.delete(verb);
      }
      throw err;
    }
  }

  async listOwnedLinks(): Promise<LinkState[]> {
    this.hit('listOwnedLinks');
    return [...this.links.values()].map(({ peer, ...l }) => ({ ...l, addresses: [...l.addresses], ...(peer ? { qdisc: peer.settings.ingressBytes ? 'tbf' : 'noqueue' } : {}) }));
  }

  async ensureBridge(b: BridgePlan): Promise<void> {
    this.hit('ensureBridge');
    if (b.foreign) return;
    for (const v of b.overlay?.vxlans ?? []) this.links.set(v.name, { name: v.name, kind: 'vxlan', master: b.name, up: true, addresses: [] });
    if (b.uplink && !this.uplinks.includes(b.uplink)) throw new SyError('SY_KERNEL', `Adapter "${b.uplink}" of bridge "${b.name}" does not exist`);
    this.links.set(b.name, { name: b.name, kind: 'bridge', up: true, mac: b.mac, addresses: b.address ? [b.address] : [...(b.overlay?.addresses ?? [])], ...(b.uplink ? { uplink: b.uplink } : {}) });
  }

  async createVeth(v: VethPlan): Promise<void> {
    this.hit('createVeth');
    if (this.links.has(v.name)) throw new SyError('SY_KERNEL', `"ip link add ${v.name}" failed: File exists`);
    if (!this.namespaces.has(v.netnsPath)) throw new SyError('SY_KERNEL', `Cannot open network namespace "${v.netnsPath}"`);
    this.links.set(v.name, { name: v.name, kind: 'veth', master: v.bridge, up: true, addresses: [], peer: v });
  }

  async updateVeth(v: VethPlan): Promise<void> {
    this.hit('updateVeth');
    const l = this.links.get(v.name);
    if (!l?.peer) throw new SyError('SY_KERNEL', `Cannot find device "${v.name}"`);
    l.peer = v;
  }

  async readPeer(v: VethPlan): Promise<PeerState> {
    this.hit('readPeer');
    const l = this.links.get(v.name);
    if (!l?.peer || l.peer.netnsPath !== v.netnsPath) return { exists: false, up: false, addresses: [] };
    const s = l.peer.settings;
    const routes = [...(l.peer.gateway ? [{ dst: 'default', via: l.peer.gateway }] : []), ...s.routes.map((r) => ({ dst: r.dst, ...(r.via ? { via: r.via } : {}) }))];
    return { exists: true, up: true, mac: l.peer.mac, addresses: [l.peer.address], ...(l.peer.gateway ? { defaultGateway: l.peer.gateway } : {}), qdisc: s.egressBytes ? 'tbf' : 'noqueue', routes };
  }

  async deleteLinks(names: string[]): Promise<void> {
    this.hit('deleteLinks');
    for (const n of names) {
      this.links.delete(n);
      // an overlay bridge goes with its VXLAN port, and the entries on both
      const ports = [...this.links.keys()].filter((l) => isVxlanPortOf(l, n));
      for (const p of ports) this.links.delete(p);
      for (const [k, e] of this.remotes) if (e.dev === n || ports.includes(e.dev)) this.remotes.delete(k);
      // the kernel drops a link's /proc/sys/net/ipv4/conf/<link>/ with the link
      for (const k of [...this.sysctls.keys()]) if (k.startsWith(`net/ipv4/conf/${n}/`)) this.sysctls.delete(k);
    }
  }

  async retireLinks(names: string[]): Promise<void> {
    this.hit('retireLinks');
    await this.deleteLinks(names);
  }

  async applyNft(desired: NftTable[]): Promise<void> {
    this.hit('applyNft');
    for (const t of desired) this.setTable(structuredClone(t));
  }

  async applyNftChange(before: NftTable[], after: NftTable[]): Promise<void> {
    this.hit('applyNft');
    const next = after.map((t, i) => {
      const have = t.family === 'inet' ? this.nft : t.family === 'bridge' ? this.nftBridge : this.nftNetdev;
      if (!have) throw new SyError('SY_KERNEL', `table ${t.family} ${t.name} does not exist`);
      return patchTable(have, before[i]!, t);
    });
    for (const t of next) this.setTable(t);
  }

  private setTable(t: NftTable): void {
    if (t.family === 'inet') this.nft = t;
    else if (t.family === 'bridge') this.nftBridge = t;
    else this.nftNetdev = t;
  }

  async applyNftChangeLater(before: NftTable[], after: NftTable[]): Promise<void> {
    await this.applyNftChange(before, after);
  }

  async allAclCounters(): Promise<ElementCounter[]> {
    return (this.nft?.sets ?? []).filter((s) => s.counter).flatMap((s) => s.elements.map((e) => counted(s.name, e)));
  }

  async linkStats(): Promise<LinkStats[]> {
    return [...this.links.keys()].map((name) => ({ name, rxBytes: 0, rxPackets: 0, txBytes: 0, txPackets: 0 }));
  }

  async aclCounters(_owner: string, elements: Map<string, string[]>): Promise<ElementCounter[]> {
    return [...elements].flatMap(([name, keys]) => {
      const set = this.nft?.sets.find((s) => s.name === name);
      return (set?.elements ?? []).filter((e) => keys.includes(elementKey(e))).map((e) => counted(name, e));
    });
  }

  /** Probes sent (trace --probe), for tests. */
  probes: unknown[] = [];

  async sendProbe(p: unknown): Promise<void> {
    this.probes.push(p);
  }

  async deleteNft(): Promise<void> {
    this.hit('deleteNft');
    this.nft = null;
    this.nftBridge = null;
    this.nftNetdev = null;
  }

  async setSysctls(s: Sysctl[]): Promise<void> {
    this.hit('setSysctls');
    for (const x of s) this.sysctls.set(x.key, x.value);
  }

  async namespaceExists(path: string): Promise<boolean> {
    return this.namespaces.has(path);
  }

  async ensureNamespace(n: NamespacePlan): Promise<void> {
    this.hit('ensureNamespace');
    if (n.create) this.namespaces.add(n.path);
    if (n.resolvConf?.content) this.files.set(n.resolvConf.path, n.resolvConf.content);
    else if (n.resolvConf) this.files.delete(n.resolvConf.path);
  }

  async deleteNamespace(path: string, owned: boolean): Promise<void> {
    this.hit('deleteNamespace');
    if (owned) this.namespaces.delete(path);
    for (const f of this.files.keys()) if (f.startsWith(`/etc/netns/${path.split('/').pop()}/`)) this.files.delete(f);
  }

  async ensureIptablesForwardAccept(wanted: boolean): Promise<void> {
    this.iptablesAccept = wanted;
  }

  async portsInUse(requests: PortRequest[]): Promise<ListeningSocket[]> {
    return this.listening.filter((s) => requests.some((r) => socketClashes(r, s)));
  }

  async adapter(name: string): Promise<AdapterState | undefined> {
    if (!this.uplinks.includes(name)) return undefined;
    const master = [...this.links.values()].find((l) => l.uplink === name)?.name;
    const n = [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
    const mac = `02:00:${[24, 16, 8, 0].map((s) => ((n >>> s) & 255).toString(16).padStart(2, '0')).join(':')}`;
    return { name, mac, linkType: 'ether', up: true, mtu: 1500, addresses: [], addressSpecs: [], ...(master ? { master } : {}) };
  }

  /** overlay remote entries by key */
  remotes = new Map<string, RemoteEntry>();

  /** the fake holds no rules of its own: an overlay bridge's go with it */
  async pruneOverlayRules(): Promise<void> {}

  async listRemoteEntries(devices: { bridge: string; vxlans: string[] }[]): Promise<RemoteEntry[]> {
    const devs = new Set(devices.flatMap((d) => [d.bridge, ...d.vxlans]));
    return [...this.remotes.values()].filter((e) => devs.has(e.dev));
  }

  async applyRemoteEntries(remove: RemoteEntry[], write: RemoteEntry[]): Promise<void> {
    this.hit('applyRemoteEntries');
    for (const e of remove) this.remotes.delete(entryKey(e));
    for (const e of write) {
      if (!this.links.has(e.dev)) throw new SyError('SY_KERNEL', `Cannot find device "${e.dev}"`);
      this.remotes.set(entryKey(e), e);
    }
  }

  async hostLinkNames(): Promise<string[]> {
    return ['lo', ...this.uplinks, ...this.links.keys()];
  }

  /** the MTU of the fake's uplink, which holds every address */
  uplinkMtu = 1500;

  async addressLink(ip: string): Promise<{ name: string; mtu: number } | undefined> {
    return this.addresses.includes(ip) ? { name: this.uplinks[0] ?? 'eth0', mtu: this.uplinkMtu } : undefined;
  }

  async localAddresses(): Promise<string[]> {
    return this.addresses;
  }

  async foreignRoutes(): Promise<{ dst: string; dev: string }[]> {
    return this.routes;
  }

  /** Everything held, as text: links, namespaces, files, sysctls and the nft table. */
  dump(): string {
    const out: string[] = [];
    for (const l of [...this.links.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const peer = l.peer ? ` peer=${l.peer.ifName}@${l.peer.netnsPath} ${l.peer.address}${l.peer.gateway ? ` via ${l.peer.gateway}` : ''} mac ${l.peer.mac}` : '';
      out.push(`link ${l.name} ${l.kind}${l.master ? ` master ${l.master}` : ''}${l.uplink ? ` port ${l.uplink}` : ''}${l.peer && l.peer.port !== 'hairpin' ? ` ${l.peer.port}` : ''} ${l.addresses.join(',')}${peer}`.trimEnd());
    }
    for (const n of [...this.namespaces].sort()) out.push(`netns ${n}`);
    for (const [p, c] of [...this.files].sort()) out.push(`file ${p}: ${JSON.stringify(c)}`);
    for (const [k, v] of [...this.sysctls].sort()) out.push(`sysctl ${k}=${v}`);
    for (const t of [...this.remotes.values()].map(entryText).sort()) out.push(`remote ${t}`);
    out.push(`iptables-forward-accept ${this.iptablesAccept}`);
    // Chains by name: their order in a table means nothing to the kernel, and differs between a
    // table built whole and one changed piece by piece.
    const canonical = (t: NftTable) => renderTable({ ...t, chains: [...t.chains].sort((x, y) => x.name.localeCompare(y.name)) });
    out.push(this.nft ? canonical(this.nft) : 'no nft table\n');
    out.push(this.nftBridge ? canonical(this.nftBridge) : 'no bridge nft table\n');
    out.push(this.nftNetdev ? canonical(this.nftNetdev) : 'no netdev nft table\n');
    return out.join('\n');
  }
}

/** An element as the fake counts it: never hit. */
function counted(set: string, e: NftElement): ElementCounter {
  return { set, owner: e.key[0]!, comment: e.comment ?? '', packets: 0, bytes: 0 };
}
