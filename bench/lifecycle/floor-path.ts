/**
 * The floor for (a): the kernel work of a NAT endpoint with one port mapping, written by hand with
 * the fewest commands — one `ip -batch` in the host namespace (veth with its peer in the container,
 * enslaved, up), one in the container namespace (address, link up, default route) and one `nft`
 * transaction adding a DNAT map element. The bridge and the nft table (shaped like hostd's:
 * prerouting → map keyed by protocol . port) are prepared once, untimed.
 */
import { exec } from '../lib/exec.js';
import { addNetns, setNetnsSysctl } from '../lib/netns.js';
import type { Teardown } from '../lib/teardown.js';
import type { CreatedEndpoint, EndpointPath, Iteration } from './path.js';

const BRIDGE = 'br-floor';
const GATEWAY = '10.79.0.1';
const PREFIX_LEN = 16;

const TABLE = `table inet sybench {
  map pm {
    type inet_proto . inet_service : ipv4_addr . inet_service
    comment "port mappings"
  }
  chain nat-prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local dnat ip to meta l4proto . th dport map @pm
  }
  chain nat-output {
    type nat hook output priority -100; policy accept;
    fib daddr type local dnat ip to meta l4proto . th dport map @pm
  }
  chain nat-postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.79.0.0/16 oifname != "${BRIDGE}" masquerade
  }
}
`;

/** 10.79.0.0/16 host number seq + 2 (.1 is the gateway). */
function floorIp(seq: number): string {
  const n = seq + 2;
  return `10.79.${Math.floor(n / 256)}.${n % 256}`;
}

export class FloorPath implements EndpointPath {
  readonly key = 'floor';
  readonly title = 'floor (ip -batch ×2 + nft -f, by hand)';

  constructor(readonly hostNetns: string) {}

  async setup(td: Teardown): Promise<void> {
    await addNetns(this.hostNetns, td);
    await exec(['ip', '-n', this.hostNetns, '-batch', '-'], {
      stdin: [`link add ${BRIDGE} type bridge`, `addr add ${GATEWAY}/${PREFIX_LEN} dev ${BRIDGE}`, `link set ${BRIDGE} up`, ''].join('\n'),
    });
    await setNetnsSysctl(this.hostNetns, 'net.ipv4.ip_forward', '1');
    await exec(['nft', '-f', '-'], { netns: this.hostNetns, stdin: TABLE });
  }

  async prepare(): Promise<void> {}

  async create(it: Iteration): Promise<CreatedEndpoint> {
    const veth = `vf-${it.label}`;
    const ip = floorIp(it.seq);
    await exec(['ip', '-n', this.hostNetns, '-batch', '-'], {
      stdin: [`link add ${veth} type veth peer name eth0 netns ${it.containerNetns}`, `link set ${veth} master ${BRIDGE} up`, ''].join('\n'),
    });
    await exec(['ip', '-n', it.containerNetns, '-batch', '-'], {
      stdin: [`addr add ${ip}/${PREFIX_LEN} dev eth0`, 'link set eth0 up', `route add default via ${GATEWAY}`, ''].join('\n'),
    });
    await exec(['nft', '-f', '-'], {
      netns: this.hostNetns,
      stdin: `add element inet sybench pm { tcp . ${it.hostPort} comment "ep ${veth}" : ${ip} . 80 }\n`,
    });
    return { ip, ref: veth };
  }

  async remove(it: Iteration, ep: CreatedEndpoint): Promise<void> {
    await exec(['ip', '-n', this.hostNetns, 'link', 'del', ep.ref]);
    await exec(['nft', '-f', '-'], { netns: this.hostNetns, stdin: `delete element inet sybench pm { tcp . ${it.hostPort} }\n` });
  }

  async release(): Promise<void> {}
}
