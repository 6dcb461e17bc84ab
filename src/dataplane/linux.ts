/**
 * The data plane on the real Linux kernel: iproute2 (`ip -j`, `ip -batch`), nftables (`nft -f -`,
 * `nft -j`), iptables (only to coexist with Docker's FORWARD policy), /proc/sys, and bind() probes
 * for ports held by processes. Every command goes through run(); namespace-side work runs with
 * `ip -n NAME` for /run/netns namespaces and under `nsenter --net=PATH` for others.
 */
import { mkdir, readFile, rm, rmdir, writeFile, access } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SyError } from '../errors.js';
import { randomBytes } from 'node:crypto';
import { faultStep } from '../faults.js';
import { BRIDGE_PREFIX, isOwnedLink, LINK_PREFIX, OVERLAY_PREFIX, NFT_TABLE, QDISC_HANDLE, RETIRED_PREFIX, ROUTE_PROTO, SWITCH_PREFIX, VETH_PREFIX } from '../model/names.js';
import { ensureSwitch, readAdapter, releaseSwitch, type AdapterState } from './uplink.js';
import { applyRemoteEntries, ensureOverlayBridge, listRemoteEntries, pruneOverlayRules, releaseOverlayBridge } from './overlay.js';
import type { RemoteEntry } from '../plan/remote-entries.js';
import { RESOLV_CONF_MARK, type BridgePlan, type NamespacePlan, type Sysctl, type VethPlan, type VethSettings } from '../plan/host-plan.js';
import type { NftTable } from '../plan/nft-table.js';
import type { DataPlane, ElementCounter, LinkState, LinkStats, ListeningSocket, PeerState } from './dataplane.js';
import { currentOf, diffNft, emptyCurrent, parseElementCounters, parseElementText, parseNftJson, type NftCurrent } from './nft-diff.js';
import { probePorts } from './port-probe.js';
import { run } from './run.js';
import { Nft } from './nft-lib.js';
import type { PortRequest } from '../model/ports.js';

interface IpLink {
  ifname: string;
  master?: string;
  flags?: string[];
  operstate?: string;
  address?: string;
  mtu?: number;
  qdisc?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

const IPT_CHAIN = 'SWITCHYARD-FORWARD';
/** how long removals that may wait wait for a change to join (see applyNftChangeLater) */
const LATER_NFT_MS = 100;
const IPT_COMMENT = 'switchyard';

export class LinuxDataPlane implements DataPlane {
  /** nft's way in: libnftables in this process, or nft processes where it cannot be loaded */
  readonly nft = new Nft();

  async listOwnedLinks(): Promise<LinkState[]> {
    const { stdout } = await run(['ip', '-j', '-d', 'addr', 'show']);
    const links = JSON.parse(stdout || '[]') as IpLink[];
    return links.filter((l) => isOwnedLink(l.ifname)).map(toLinkState);
  }

  async ensureBridge(b: BridgePlan, existing: LinkState | undefined): Promise<void> {
    if (b.foreign) {
      const a = await readAdapter(b.name);
      if (a?.kind !== 'bridge') throw new SyError('SY_KERNEL', `Upstream bridge "${b.name}" is not there`);
      return;
    }
    if (b.uplink) return ensureSwitch(b, !!existing, existing?.up ?? false);
    if (b.overlay) return ensureOverlayBridge(b, existing);
    const cmds: string[] = [];
    if (!existing) {
      cmds.push(`link add ${b.name} address ${b.mac}${b.mtu ? ` mtu ${b.mtu}` : ''} type bridge`);
    }
    if (b.address && (!existing || !existing.addresses.includes(b.address))) cmds.push(`addr replace ${b.address} dev ${b.name}`);
    if (!existing || !existing.up) cmds.push(`link set ${b.name} up`);
    if (!cmds.length) return;
    faultStep(`kernel: bridge ${b.name}`);
    await run(['ip', '-batch', '-'], { stdin: cmds.join('\n') + '\n' });
  }

  async createVeth(v: VethPlan): Promise<void> {
    try {
      await this.createVethOnce(v);
    } catch (err) {
      // The inside of a retired veth may still hold the name in the namespace (a detach and an
      // attach of the same sandbox in a row): once the retired veths are gone, try again.
      if (!(err instanceof SyError && /File exists/.test(err.message + (err.command?.stderr ?? '')))) throw err;
      await this.retired;
      await this.createVethOnce(v);
    }
  }

  private async createVethOnce(v: VethPlan): Promise<void> {
    const mtu = v.settings.mtu ? ` mtu ${v.settings.mtu}` : '';
    const host = [
      `link add ${v.name}${mtu} type veth peer name ${v.ifName} address ${v.mac}${mtu} netns ${v.netnsPath}`,
      `link set ${v.name} master ${v.bridge} up`,
      ...(v.port === 'hairpin' ? [`link set ${v.name} type bridge_slave hairpin on`] : []),
      ...(v.port === 'isolated' ? [`link set ${v.name} type bridge_slave isolated on`] : []),
    ];
    faultStep(`kernel: veth ${v.name}`);
    await run(['ip', '-batch', '-'], { stdin: host.join('\n') + '\n' });
    const inside = [
      'link set lo up',
      `addr replace ${v.address} dev ${v.ifName}`,
      `link set ${v.ifName} up`,
      // "add", not "replace": in a namespace with several endpoints (a container on two networks) the
      // first one keeps the default route, as Docker keeps its primary network's gateway. Only this
      // line may fail ("File exists"); -force runs the lines after it all the same.
      ...(v.gateway ? [`route add default via ${v.gateway} dev ${v.ifName}`] : []),
      // The endpoint never asks for its gateway's MAC: the host's answer to that ARP would have to
      // pass a strict reverse-path check that cannot see an overlay network's table (ARP has no mark).
      ...(v.gateway && v.gatewayMac ? [`neigh replace ${v.gateway} lladdr ${v.gatewayMac} dev ${v.ifName} nud permanent`] : []),
      ...v.settings.routes.map((r) => `route replace ${routeSpec(r, v.ifName)}`),
    ];
    const defaultRouteLine = inside.findIndex((l) => l.startsWith('route add default')) + 1 || -1;
    try {
      const inner = async () => {
        faultStep(`kernel: inside of ${v.name}`);
        const res = await run(['ip', '-force', '-batch', '-'], { stdin: inside.join('\n') + '\n', netns: v.netnsPath, okExitCodes: [1] });
        const failedLines = [...res.stderr.matchAll(/Command failed -:(\d+)/g)].map((m) => Number(m[1]));
        if (res.exitCode !== 0 && (failedLines.length !== 1 || failedLines[0] !== defaultRouteLine || !/File exists/.test(res.stderr))) {
          throw new SyError('SY_KERNEL', `Cannot configure "${v.ifName}" in "${v.netnsPath}": ${res.stderr.trim()}`, {
            argv: ['ip', '-force', '-batch', '-'],
            stdin: inside.join('\n'),
            stderr: res.stderr,
            exitCode: res.exitCode,
          });
        }
      };
      // Both ends exist now: the inside's addresses and routes and the QOS qdiscs go side by side.
      const results = await Promise.allSettled([inner(), this.applyQos(v, {})]);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    } catch (err) {
      await this.deleteLinks([v.name]);
      throw err;
    }
  }

  async updateVeth(v: VethPlan, before: VethSettings): Promise<void> {
    const mtu = v.settings.mtu ?? 1500;
    if (mtu !== (before.mtu ?? 1500)) {
      faultStep(`kernel: mtu of ${v.name}`);
      await run(['ip', 'link', 'set', v.name, 'mtu', String(mtu)]);
      faultStep(`kernel: mtu of ${v.ifName} in ${v.netnsPath}`);
      await run(['ip', 'link', 'set', v.ifName, 'mtu', String(mtu)], { netns: v.netnsPath });
    }
    const wanted = new Set(v.settings.routes.map((r) => routeSpec(r, v.ifName)));
    const gone = before.routes.filter((r) => !wanted.has(routeSpec(r, v.ifName))).map((r) => `route del ${r.dst} dev ${v.ifName} proto ${ROUTE_PROTO}`);
    // A route already gone is fine to "delete"; a route that cannot be made is an error.
    if (gone.length) {
      faultStep(`kernel: routes out of ${v.name}`);
      await run(['ip', '-force', '-batch', '-'], { stdin: gone.join('\n') + '\n', netns: v.netnsPath, okExitCodes: [1] });
    }
    if (wanted.size) {
      faultStep(`kernel: routes of ${v.name}`);
      await run(['ip', '-batch', '-'], { stdin: [...wanted].map((r) => `route replace ${r}`).join('\n') + '\n', netns: v.netnsPath });
    }
    await this.applyQos(v, before);
  }

  /**
   * QOS as token buckets (tbf): what the endpoint sends is shaped on its own interface, where TCP
   * feels the backpressure (TSQ) and paces itself instead of losing packets; what it receives is
   * shaped on the host side of the veth. Unless the caller chose it, the bucket holds 20 ms of
   * traffic (at least 64 KiB, so a GSO packet fits whole). The qdisc carries Switchyard's handle, and
   * only a qdisc with it is ever deleted (a tbf on the veth may be a chained CNI plugin's).
   */
  private async applyQos(v: VethPlan, before: Partial<VethSettings>): Promise<void> {
    const tbf = (bytes: number, burst: number | undefined) => ['tbf', 'rate', `${bytes * 8}bit`, 'burst', String(burst ?? Math.max(65536, Math.ceil(bytes / 50))), 'latency', '50ms'];
    const one = async (dev: string, netns: string | undefined, want: [number?, number?], had: [number?, number?]) => {
      if (want[0] === had[0] && want[1] === had[1]) return;
      const opts = netns ? { netns } : {};
      faultStep(`kernel: qdisc of ${dev}${netns ? ` in ${netns}` : ''}`);
      if (want[0]) await run(['tc', 'qdisc', 'replace', 'dev', dev, 'root', 'handle', QDISC_HANDLE, ...tbf(want[0], want[1])], opts);
      else await run(['tc', 'qdisc', 'del', 'dev', dev, 'root', 'handle', QDISC_HANDLE], { ...opts, okExitCodes: [2] });
    };
    const s = v.settings;
    await Promise.all([
      one(v.ifName, v.netnsPath, [s.egressBytes, s.egressBurst], [before.egressBytes, before.egressBurst]),
      one(v.name, undefined, [s.ingressBytes, s.ingressBurst], [before.ingressBytes, before.ingressBurst]),
    ]);
  }

  async readPeer(v: VethPlan): Promise<PeerState> {
    // One process per endpoint (this runs for every endpoint when hostd restarts): the address and
    // state of the interface decide; the default route is re-set whenever the veth is recreated.
    // Its MTU, qdisc and marked routes tell what a policy change cut short by a crash left.
    const { stdout } = await run(['ip', '-j', '-batch', '-'], { stdin: `addr show\nroute show proto ${ROUTE_PROTO}\n`, netns: v.netnsPath });
    const [addrs, routes] = stdout.split('\n').map((l) => JSON.parse(l || '[]') as unknown[]);
    const link = (addrs as IpLink[]).find((l) => l.ifname === v.ifName);
    if (!link) return { exists: false, up: false, addresses: [] };
    const st = toLinkState(link);
    const marked = (routes as { dst: string; gateway?: string; dev: string; metric?: number }[])
      .filter((r) => r.dev === v.ifName && r.dst !== 'default')
      .map((r) => ({ dst: r.dst.includes('/') ? r.dst : `${r.dst}/32`, ...(r.gateway ? { via: r.gateway } : {}), ...(r.metric ? { metric: r.metric } : {}) }));
    return { exists: true, up: st.up, ...(st.mac ? { mac: st.mac } : {}), addresses: st.addresses, ...(st.mtu ? { mtu: st.mtu } : {}), ...(st.qdisc ? { qdisc: st.qdisc } : {}), routes: marked };
  }

  async deleteLinks(names: string[]): Promise<void> {
    if (!names.length) return;
    await this.retired;
    await this.deleteNow(names);
  }

  private async deleteNow(names: string[]): Promise<void> {
    for (const n of names) if (!n.startsWith(LINK_PREFIX)) throw new Error(`refusing to delete unmarked link "${n}"`);
    // A switch bridge gives its adapter back (addresses and routes too) before it goes.
    for (const n of names) if (n.startsWith(SWITCH_PREFIX)) await releaseSwitch(n);
    // An overlay bridge takes its VXLAN port and the rules that choose its routing table with it.
    for (const n of names) if (n.startsWith(OVERLAY_PREFIX)) await releaseOverlayBridge(n);
    names = names.filter((n) => !n.startsWith(SWITCH_PREFIX));
    if (!names.length) return;
    faultStep(`kernel: delete ${names.join(' ')}`);
    // One process for the whole batch (deletions cost 10-25 ms each here); -force goes on past a
    // link that is already gone.
    await run(['ip', '-force', '-batch', '-'], { stdin: names.map((n) => `link del ${n}`).join('\n') + '\n', okExitCodes: [1] });
  }

  /** Deletions of retired veths, one after another; never rejects. */
  private retired: Promise<void> = Promise.resolve();

  /**
   * A veth pair's deletion costs 10-40 ms here (the kernel waits for RCU grace periods), where setting
   * it down and renaming it costs about 1: a detach (Docker's Leave) answers after that and the pair is
   * deleted in the background. The inside keeps its name until then: a createVeth that meets it waits
   * for the deletions. A crash in between leaves sy-gc links, which the next full pass removes (they
   * carry Switchyard's mark and no record wants them); the kernel removes them too with the namespace.
   */
  async retireLinks(names: string[]): Promise<void> {
    if (!names.length) return;
    for (const n of names) if (!n.startsWith(VETH_PREFIX)) throw new Error(`refusing to retire "${n}": not a veth of Switchyard's`);
    const moved = names.map((n) => ({ n, gc: RETIRED_PREFIX + randomBytes(4).toString('hex') }));
    const res = await run(['ip', '-force', '-batch', '-'], { stdin: moved.map(({ n, gc }) => `link set ${n} down\nlink set ${n} name ${gc}\n`).join(''), okExitCodes: [1] });
    // Whatever could not be renamed (gone already, or the rare name clash) is deleted now.
    if (res.exitCode !== 0) await this.deleteNow(names);
    const gcNames = moved.map((m) => m.gc);
    this.retired = this.retired.then(() => this.deleteNow(gcNames).catch(() => undefined));
  }

  async applyNft(desired: NftTable[]): Promise<void> {
    await this.flushLaterNft();
    const current = await Promise.all(desired.map((t) => this.readNft(t)));
    const script = desired.map((t, i) => diffNft(t, current[i]!)).join('');
    if (!script) return;
    faultStep('kernel: nft repair');
    await this.nft.apply(script);
  }

  async applyNftChange(before: NftTable[], after: NftTable[]): Promise<void> {
    const script = changeScript(before, after);
    if (!script) return;
    await this.laterNftRun;
    // What waits goes in this transaction: one commit instead of two (a deletion costs 10-25 ms here).
    const waiting = this.laterNft;
    this.laterNft = '';
    faultStep('kernel: nft change');
    await this.nft.apply(waiting + script);
  }

  /** nft removals that wait (applyNftChangeLater), as script, and the run of the last flush. */
  private laterNft = '';
  private laterNftRun: Promise<void> = Promise.resolve();
  private laterNftTimer: NodeJS.Timeout | undefined;

  /**
   * Deleting set elements costs a commit of 10-25 ms here: a detach (Docker's Leave) does not wait for
   * the removal of its retired veth's elements, which match no packet once the veth is renamed. They
   * join the next nft change, or go on their own after LATER_NFT_MS. A failure is left to the next full
   * pass, which reads the kernel and removes whatever is stale.
   */
  async applyNftChangeLater(before: NftTable[], after: NftTable[]): Promise<void> {
    const script = changeScript(before, after);
    if (!script) return;
    this.laterNft += script;
    this.laterNftTimer ??= setTimeout(() => void this.flushLaterNft(), LATER_NFT_MS);
    this.laterNftTimer.unref();
  }

  /** Runs the waiting removals now (if any) and resolves once no flush is in flight. */
  private flushLaterNft(): Promise<void> {
    clearTimeout(this.laterNftTimer);
    this.laterNftTimer = undefined;
    const script = this.laterNft;
    this.laterNft = '';
    if (script) {
      this.laterNftRun = this.laterNftRun.then(() =>
        this.nft.apply(script).then(
          () => undefined,
          () => undefined,
        ),
      );
    }
    return this.laterNftRun;
  }

  private async readNft(desired: NftTable): Promise<NftCurrent> {
    const res = await this.nft.command(`list table ${desired.family} ${desired.name}`);
    if (!res.ok) return emptyCurrent();
    const types = new Map(desired.sets.map((s) => [s.name, s.keyTypes]));
    return parseNftJson(res.stdout, (n) => types.get(n));
  }

  async allAclCounters(): Promise<ElementCounter[]> {
    const res = await this.nft.command(`list table inet ${NFT_TABLE}`);
    return res.ok ? parseElementCounters(res.stdout) : [];
  }

  async linkStats(): Promise<LinkStats[]> {
    const { stdout } = await run(['ip', '-s', '-j', 'link', 'show']);
    type S = { ifname: string; stats64?: { rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } } };
    return (JSON.parse(stdout || '[]') as S[])
      .filter((l) => isOwnedLink(l.ifname) && l.stats64)
      .map((l) => ({ name: l.ifname, rxBytes: l.stats64!.rx.bytes, rxPackets: l.stats64!.rx.packets, txBytes: l.stats64!.tx.bytes, txPackets: l.stats64!.tx.packets }));
  }

  async aclCounters(owner: string, elements: Map<string, string[]>): Promise<ElementCounter[]> {
    const out: ElementCounter[] = [];
    for (const [set, keys] of elements) {
      if (!keys.length) continue;
      // Keys come from the planner: addresses, prefixes, ranges, numbers and protocol names.
      if (!/^acl_[a-z_]+$/.test(set) || keys.some((k) => !/^[0-9a-z./ -]+$/.test(k))) throw new Error(`bad ACL element ${set} ${keys[0]}`);
      // `get element` reads just these elements; it fails whole when one is missing (a change
      // in between), and an element without a counter is not read: the map is then listed and
      // read by owner.
      const res = await this.nft.command(`get element inet ${NFT_TABLE} ${set} { ${keys.join(', ')} }`, true);
      const got = res.ok ? parseElementText(set, res.stdout) : [];
      if (got.length === keys.length) out.push(...got);
      else {
        const all = await this.nft.command(`list map inet ${NFT_TABLE} ${set}`);
        if (all.ok) out.push(...parseElementCounters(all.stdout).filter((c) => c.owner === owner));
      }
    }
    return out;
  }

  async sendProbe(p: { netnsPath?: string; protocol: 6 | 17; source?: string; dst: string; dport: number; sport?: number }): Promise<void> {
    // A child node (the same binary hostd runs on) in the namespace: no other tool is needed on the
    // host. Its arguments are validated numbers and addresses, passed as argv, never as code.
    const script = [
      'const [proto, dst, dport, src, sport] = process.argv.slice(1);',
      "const local = { ...(src ? { localAddress: src } : {}), ...(sport ? { localPort: Number(sport) } : {}) };",
      "if (proto === '6') { const s = require('net').connect({ host: dst, port: Number(dport), ...local }); s.on('error', () => {}); }",
      "else { const s = require('dgram').createSocket('udp4'); s.bind({ address: src || undefined, port: sport ? Number(sport) : 0 }, () => s.send('switchyard probe', Number(dport), dst, () => {})); }",
      'setTimeout(() => process.exit(0), 300);',
    ].join('\n');
    const argv = [process.execPath, '-e', script, String(p.protocol), p.dst, String(p.dport), p.source ?? '', p.sport ? String(p.sport) : ''];
    await run(argv, p.netnsPath ? { netns: p.netnsPath, timeoutMs: 10_000 } : { timeoutMs: 10_000 });
  }

  async deleteNft(tables: { family: string; name: string }[]): Promise<void> {
    await this.flushLaterNft();
    for (const t of tables) {
      faultStep(`kernel: delete table ${t.family} ${t.name}`);
      await this.nft.command(`delete table ${t.family} ${t.name}`);
    }
  }

  async setSysctls(s: Sysctl[]): Promise<void> {
    for (const { key, value } of s) {
      if (!/^net\/[A-Za-z0-9_./-]+$/.test(key) || key.includes('..')) throw new Error(`bad sysctl key ${key}`);
      const path = `/proc/sys/${key}`;
      const now = await readFile(path, 'utf8').catch(() => null);
      if (now !== null && now.trim() === value) continue;
      // A kernel without br_netfilter has no net/bridge: ACLs then see routed traffic only.
      if (now === null && key.startsWith('net/bridge/')) continue;
      faultStep(`kernel: sysctl ${key}`);
      await writeFile(path, value).catch((e: Error) => {
        throw new SyError('SY_KERNEL', `Cannot set ${key.replace(/\//g, '.')} to ${value}: ${e.message}`);
      });
    }
  }

  async namespaceExists(path: string): Promise<boolean> {
    return access(path).then(
      () => true,
      () => false,
    );
  }

  async ensureNamespace(n: NamespacePlan): Promise<void> {
    const m = /^\/run\/netns\/([^/]+)$/.exec(n.path);
    if (n.create && !(await this.namespaceExists(n.path))) {
      if (!m) throw new SyError('SY_KERNEL', `Cannot create namespace "${n.path}": only /run/netns/NAME can be created`);
      faultStep(`kernel: add namespace ${m[1]}`);
      await run(['ip', 'netns', 'add', m[1]!]);
    }
    if (!n.resolvConf) return;
    const { path, content } = n.resolvConf;
    const now = await readFile(path, 'utf8').catch(() => null);
    if (content === null) await removeOurResolvConf(path, now);
    else if (now !== content) {
      faultStep(`kernel: write ${path}`);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, content);
    }
  }

  async deleteNamespace(path: string, owned: boolean): Promise<void> {
    const m = /^\/run\/netns\/([^/]+)$/.exec(path);
    if (!m) return;
    if (!owned) {
      const file = `/etc/netns/${m[1]}/resolv.conf`;
      await removeOurResolvConf(file, await readFile(file, 'utf8').catch(() => null));
      return;
    }
    if (await this.namespaceExists(path)) {
      faultStep(`kernel: delete namespace ${m[1]}`);
      await run(['ip', 'netns', 'delete', m[1]!], { okExitCodes: [1] });
    }
    faultStep(`kernel: remove /etc/netns/${m[1]}`);
    await rm(`/etc/netns/${m[1]}`, { recursive: true, force: true });
  }

  async ensureIptablesForwardAccept(wanted: boolean): Promise<void> {
    const forward = await run(['iptables', '-w', '5', '-S', 'FORWARD'], { okExitCodes: [1, 2, 3, 4] }).catch(() => null);
    if (!forward || forward.exitCode !== 0) return; // no iptables here: nothing to coexist with
    const hasDockerUser = forward.stdout.includes('-j DOCKER-USER');
    const policyDrop = /^-P FORWARD DROP$/m.test(forward.stdout);
    const from = hasDockerUser ? 'DOCKER-USER' : 'FORWARD';
    const jump = ['-j', IPT_CHAIN, '-m', 'comment', '--comment', IPT_COMMENT];
    const ipt = (...args: string[]) => run(['iptables', '-w', '5', ...args], { okExitCodes: [1, 2] });
    const need = wanted && (hasDockerUser || policyDrop);
    faultStep('kernel: iptables FORWARD accept');
    if (need) {
      await ipt('-N', IPT_CHAIN);
      await run(['iptables', '-w', '5', '-F', IPT_CHAIN]);
      // NAT bridges, the switches of uplink networks and overlay bridges (bridged traffic meets FORWARD with br_netfilter)
      for (const prefix of [BRIDGE_PREFIX, SWITCH_PREFIX, OVERLAY_PREFIX]) {
        await run(['iptables', '-w', '5', '-A', IPT_CHAIN, '-i', `${prefix}+`, '-j', 'ACCEPT']);
        await run(['iptables', '-w', '5', '-A', IPT_CHAIN, '-o', `${prefix}+`, '-j', 'ACCEPT']);
      }
      const present = await ipt('-C', from, ...jump);
      if (present.exitCode !== 0) await run(['iptables', '-w', '5', '-I', from, '1', ...jump]);
      return;
    }
    for (const chain of ['DOCKER-USER', 'FORWARD']) {
      while ((await ipt('-D', chain, ...jump)).exitCode === 0);
    }
    await ipt('-F', IPT_CHAIN);
    await ipt('-X', IPT_CHAIN);
  }

  portsInUse(requests: PortRequest[]): Promise<ListeningSocket[]> {
    return probePorts(requests);
  }

  adapter(name: string): Promise<AdapterState | undefined> {
    return readAdapter(name);
  }

  listRemoteEntries(devices: { bridge: string; vxlans: string[] }[]): Promise<RemoteEntry[]> {
    return listRemoteEntries(devices);
  }

  pruneOverlayRules(keep: number[]): Promise<void> {
    return pruneOverlayRules(keep);
  }

  applyRemoteEntries(remove: RemoteEntry[], write: RemoteEntry[]): Promise<void> {
    return applyRemoteEntries(remove, write);
  }

  async hostLinkNames(): Promise<string[]> {
    const { stdout } = await run(['ip', '-j', 'link', 'show']);
    return (JSON.parse(stdout || '[]') as IpLink[]).map((l) => l.ifname);
  }

  async addressLink(ip: string): Promise<{ name: string; mtu: number } | undefined> {
    const { stdout } = await run(['ip', '-j', '-4', 'addr', 'show']);
    const l = (JSON.parse(stdout || '[]') as IpLink[]).find((x) => (x.addr_info ?? []).some((a) => a.family === 'inet' && a.local === ip));
    return l ? { name: l.ifname, mtu: l.mtu ?? 1500 } : undefined;
  }

  async localAddresses(): Promise<string[]> {
    const { stdout } = await run(['ip', '-j', '-4', 'addr', 'show']);
    const links = JSON.parse(stdout || '[]') as IpLink[];
    return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local));
  }

  async foreignRoutes(): Promise<{ dst: string; dev: string }[]> {
    const { stdout } = await run(['ip', '-j', '-4', 'route', 'show', 'table', 'all']);
    const routes = JSON.parse(stdout || '[]') as { dst: string; dev?: string; type?: string }[];
    return routes
      .filter((r) => r.dst !== 'default' && !(r.dev ?? '').startsWith(LINK_PREFIX) && (r.type ?? 'unicast') === 'unicast')
      .map((r) => ({ dst: r.dst.includes('/') ? r.dst : `${r.dst}/32`, dev: r.dev ?? '' }));
  }
}

function toLinkState(l: IpLink): LinkState {
  return {
    name: l.ifname,
    kind: l.linkinfo?.info_kind ?? '',
    ...(l.master ? { master: l.master } : {}),
    up: (l.flags ?? []).includes('UP'),
    ...(l.address ? { mac: l.address } : {}),
    ...(l.mtu ? { mtu: l.mtu } : {}),
    ...(l.qdisc ? { qdisc: l.qdisc } : {}),
    addresses: (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
  };
}

/** The nft script taking each table of `before` (as last applied) to its counterpart in `after`. */
function changeScript(before: NftTable[], after: NftTable[]): string {
  return after.map((t, i) => diffNft(t, currentOf(before[i]!))).join('');
}

/** A route inside an endpoint's namespace as `ip route` takes it, with Switchyard's mark. */
function routeSpec(r: VethSettings['routes'][number], dev: string): string {
  return `${r.dst}${r.via ? ` via ${r.via}` : ''} dev ${dev}${r.metric ? ` metric ${r.metric}` : ''} proto ${ROUTE_PROTO}`;
}

/** Removes a resolv.conf Switchyard wrote (never another's), and its /etc/netns/NAME if left empty. */
async function removeOurResolvConf(path: string, content: string | null): Promise<void> {
  if (content === null || !content.startsWith(RESOLV_CONF_MARK)) return;
  faultStep(`kernel: remove ${path}`);
  await rm(path, { force: true });
  await rmdir(dirname(path)).catch(() => undefined);
}
