/**
 * The endpoint paths of the modes benchmark's latency section, run by bench/lifecycle's runner
 * (fresh container namespace per iteration, timed create and delete, kernel checks, rotating order):
 *  - hostd: POST /endpoints with a static IpConfiguration on the mode's uplink network (the container
 *    namespace adopted with POST /namespaces before, untimed), DELETE /endpoints/{id};
 *  - floor: the same kernel calls hostd makes for such an endpoint (read from its command trace,
 *    SWITCHYARD_TRACE_COMMANDS=1), run by hand in a floor host namespace of their own: one `ip -batch`
 *    on the host (veth with its peer eth0 and the endpoint's MAC in the container, port of the switch
 *    bridge, up; L2Tunnel: isolated), one `ip -force -batch` in the container (lo up, address, eth0 up,
 *    default route) and one `nft -f` adding the endpoint's anti-spoofing elements (and for L2Bridge and
 *    L2Tunnel its ep_by_ip element) to a bridge table shaped like hostd's; delete: `ip link del` and one
 *    `nft -f` removing the elements. The floor host's switch bridge, adapter and tables are made once,
 *    untimed. hostd calls libnftables in its own process; the floor pays an `nft` exec per change.
 */
import { exec, netnsPath } from '../lib/exec.js';
import { addNetns } from '../lib/netns.js';
import type { Teardown } from '../lib/teardown.js';
import type { CreatedEndpoint, EndpointPath, Iteration } from '../lifecycle/path.js';
import type { HostdClient } from '../hostd/client.js';
import { endpointIp, type EndpointDoc } from '../hostd/client.js';
import { ipBatch, peerIp, SUBNET_OF, type Mode } from './fabric.js';

/** Lifecycle endpoints: 10.0.N.(100 + seq), seq 0 the warm-up. */
export function lifecycleIp(mode: Mode, seq: number): string {
  if (seq > 150) throw new Error('at most 150 lifecycle rounds');
  return `10.0.${SUBNET_OF[mode]}.${100 + seq}`;
}

/** hostd's endpoint MAC for an address (02-53 + the IPv4 address), as the floor uses it too. */
function macOf(ip: string): string {
  return ['02', '53', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

export class ModeHostdPath implements EndpointPath {
  readonly key: string;
  readonly title: string;
  private readonly namespaceIds = new Map<string, string>();

  constructor(
    readonly mode: Mode,
    private readonly api: HostdClient,
    private readonly networkId: string,
    readonly hostNetns: string,
  ) {
    this.key = `sy-${mode.toLowerCase()}`;
    this.title = `hostd ${mode} (POST/DELETE /endpoints)`;
  }

  async setup(): Promise<void> {}

  async prepare(it: Iteration): Promise<void> {
    const ns = await this.api.createNamespace(netnsPath(it.containerNetns));
    this.namespaceIds.set(it.containerNetns, ns.ID);
  }

  async create(it: Iteration): Promise<CreatedEndpoint> {
    const doc = await this.api.call<EndpointDoc>('POST', '/endpoints', {
      Name: `l-${this.mode.toLowerCase()}-${it.label}`,
      HostComputeNetwork: this.networkId,
      HostComputeNamespace: this.namespaceIds.get(it.containerNetns),
      IpConfigurations: [{ IpAddress: lifecycleIp(this.mode, it.seq), PrefixLength: 24 }],
    });
    return { ip: endpointIp(doc), ref: doc.ID };
  }

  async remove(_it: Iteration, ep: CreatedEndpoint): Promise<void> {
    await this.api.deleteEndpoint(ep.ref);
  }

  async release(it: Iteration): Promise<void> {
    const id = this.namespaceIds.get(it.containerNetns);
    if (id === undefined) return;
    this.namespaceIds.delete(it.containerNetns);
    await this.api.deleteNamespace(id);
  }
}

const FLOOR_BRIDGE = 'sy-sw-floor';
const FLOOR_TABLE = 'sybench';

/** The floor host's bridge table: hostd's sets and anti-spoofing chain, and the mode's rewrite chain. */
function floorTables(mode: Mode, adapterMac: string): string {
  const rewrite = mode !== 'Transparent';
  const tunnel = mode === 'L2Tunnel';
  const tunnelMac = '02:53:59:54:55:4e';
  return `table bridge ${FLOOR_TABLE} {
  set ep_ok { type ifname . ether_addr . ipv4_addr; }
  set ep_src { type ifname . ipv4_addr; }
  set ep_routed { type ifname . ipv4_addr; flags interval; }
  set ep_mac { type ifname . ether_addr; }
  map ep_by_ip { type ifname . ipv4_addr : ether_addr; }
  chain spoof {
    type filter hook prerouting priority -200; policy accept;
    iifname . ether saddr . ip saddr @ep_ok accept
    iifname != "sy-ep-*" accept
    iifname . ether saddr != @ep_mac counter drop
    ether type ip iifname . ip saddr != @ep_routed counter drop
    ether type arp iifname . arp saddr ip != @ep_src iifname . arp saddr ip != @ep_routed counter drop
    ether type ip6 counter drop
  }
${
  rewrite
    ? `  chain sw-in {
    type filter hook prerouting priority -300; policy accept;
    iifname "eth1" ether type ip ether daddr set iifname . ip daddr map @ep_by_ip
    iifname "eth1" ether type arp ether daddr set iifname . arp daddr ip map @ep_by_ip
${tunnel ? `    iifname "sy-ep-*" ether daddr ${adapterMac} ether daddr set ${tunnelMac}\n` : ''}  }
`
    : ''
}}
${
  rewrite
    ? `table netdev ${FLOOR_TABLE} {
  chain up {
    type filter hook egress device "eth1" priority 0; policy accept;
${tunnel ? `    ether daddr ${tunnelMac} ether daddr set ${adapterMac}\n` : ''}    ether saddr != ${adapterMac} ether type arp arp saddr ether set ${adapterMac}
    ether saddr != ${adapterMac} ether saddr set ${adapterMac}
  }
}
`
    : ''
}`;
}

export class ModeFloorPath implements EndpointPath {
  readonly key: string;
  readonly title: string;

  /** `withNft` false: the links alone (no nft elements), a lower bound of the kernel work. */
  constructor(
    readonly mode: Mode,
    readonly hostNetns: string,
    private readonly withNft = true,
  ) {
    this.key = `${withNft ? 'floor' : 'floor-ip'}-${mode.toLowerCase()}`;
    this.title = withNft ? `floor ${mode} (ip -batch ×2 + nft -f, by hand)` : `ip-only floor ${mode} (ip -batch ×2, no nft)`;
  }

  /** The floor host: an adapter (a veth whose other end stays unplugged) in a switch bridge with its MAC, and the tables. */
  async setup(td: Teardown): Promise<void> {
    await addNetns(this.hostNetns, td);
    await ipBatch(this.hostNetns, ['link add eth1 type veth peer name eth1-wire', 'link set eth1-wire up']);
    const mac = (JSON.parse((await exec(['ip', '-n', this.hostNetns, '-j', 'link', 'show', 'dev', 'eth1'])).stdout) as { address: string }[])[0]!.address;
    await ipBatch(this.hostNetns, [`link add ${FLOOR_BRIDGE} address ${mac} type bridge`, `link set ${FLOOR_BRIDGE} up`, `link set eth1 master ${FLOOR_BRIDGE}`, 'link set eth1 up']);
    await exec(['nft', '-f', '-'], { netns: this.hostNetns, stdin: floorTables(this.mode, mac) });
  }

  async prepare(): Promise<void> {}

  private elements(veth: string, ip: string, mac: string): string[] {
    return [
      `ep_ok { "${veth}" . ${mac} . ${ip} }`,
      `ep_src { "${veth}" . ${ip} }`,
      `ep_mac { "${veth}" . ${mac} }`,
      ...(this.mode !== 'Transparent' ? [`ep_by_ip { "eth1" . ${ip} : ${mac} }`] : []),
    ];
  }

  async create(it: Iteration): Promise<CreatedEndpoint> {
    const veth = `sy-ep-fl${it.label}`;
    const ip = lifecycleIp(this.mode, it.seq);
    const mac = macOf(ip);
    await ipBatch(this.hostNetns, [
      `link add ${veth} type veth peer name eth0 address ${mac} netns ${netnsPath(it.containerNetns)}`,
      `link set ${veth} master ${FLOOR_BRIDGE} up`,
      ...(this.mode === 'L2Tunnel' ? [`link set ${veth} type bridge_slave isolated on`] : []),
    ]);
    await ipBatch(it.containerNetns, ['link set lo up', `addr replace ${ip}/24 dev eth0`, 'link set eth0 up', `route add default via ${peerIp(SUBNET_OF[this.mode])} dev eth0`], true);
    if (this.withNft) await exec(['nft', '-f', '-'], { netns: this.hostNetns, stdin: this.elements(veth, ip, mac).map((e) => `add element bridge ${FLOOR_TABLE} ${e}`).join('\n') + '\n' });
    return { ip, ref: veth };
  }

  async remove(it: Iteration, ep: CreatedEndpoint): Promise<void> {
    const ip = lifecycleIp(this.mode, it.seq);
    await exec(['ip', '-n', this.hostNetns, 'link', 'del', ep.ref]);
    if (!this.withNft) return;
    await exec(['nft', '-f', '-'], {
      netns: this.hostNetns,
      stdin: this.elements(ep.ref, ip, macOf(ip)).map((e) => `delete element bridge ${FLOOR_TABLE} ${e.replace(/ : [0-9a-f:]+ \}$/, ' }')}`).join('\n') + '\n',
    });
  }

  async release(): Promise<void> {}
}
