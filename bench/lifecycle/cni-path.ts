/**
 * Debian's CNI reference chain (bridge + host-local, then portmap) for (a), invoked exactly as a
 * runtime does through libcni: each plugin binary run with CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/
 * CNI_IFNAME/CNI_PATH and its config on stdin, with name and cniVersion inserted, portmap given the
 * bridge's result as prevResult and the port mapping as runtimeConfig; DEL in reverse order with the
 * final result as prevResult. Every plugin runs under `nsenter --net` in the path's own host
 * namespace, so its bridge, sysctls and iptables rules live there and not in the root namespace.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { exec, netnsPath } from '../lib/exec.js';
import { addNetns } from '../lib/netns.js';
import type { Teardown } from '../lib/teardown.js';
import type { CreatedEndpoint, EndpointPath, Iteration } from './path.js';

const CNI_VERSION = '1.0.0';
const NETWORK_NAME = 'benchnet';

interface CniResult {
  ips?: { address?: string }[];
  [field: string]: unknown;
}

/** 100 Mbit/s each way with a 1 Mbit burst: what the `bandwidth` plugin is given when it is in the chain. */
export const BENCH_BANDWIDTH = { ingressRate: 100_000_000, ingressBurst: 1_000_000, egressRate: 100_000_000, egressBurst: 1_000_000 };

export class CniPath implements EndpointPath {
  readonly key: string;
  readonly title: string;
  private readonly dataDir: string;

  /** `bandwidth` appends Debian's bandwidth plugin (ingress and egress caps) to the chain. */
  constructor(
    readonly hostNetns: string,
    private readonly pluginDir: string,
    tmpDir: string,
    private readonly opts: { bandwidth?: boolean } = {},
  ) {
    this.key = opts.bandwidth ? 'cni-bw' : 'cni';
    this.title = opts.bandwidth ? 'CNI chain (bridge + host-local + portmap + bandwidth)' : 'CNI chain (bridge + host-local + portmap)';
    this.dataDir = join(tmpDir, `${this.key}-ipam`);
  }

  /**
   * The conflist of the brief, as libcni would read it, plus `routes: [0.0.0.0/0]` in ipam: without
   * it host-local returns no route and the bridge plugin installs no default route in the container,
   * while hostd and the floor do — the comparison is of the same kernel work.
   */
  conflist(): { cniVersion: string; name: string; plugins: Record<string, unknown>[] } {
    return {
      cniVersion: CNI_VERSION,
      name: NETWORK_NAME,
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni-bench0',
          isGateway: true,
          ipMasq: true,
          ipam: { type: 'host-local', subnet: '10.77.0.0/16', routes: [{ dst: '0.0.0.0/0' }], dataDir: this.dataDir },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
        ...(this.opts.bandwidth ? [{ type: 'bandwidth', capabilities: { bandwidth: true } }] : []),
      ],
    };
  }

  async setup(td: Teardown): Promise<void> {
    mkdirSync(this.dataDir, { recursive: true });
    await addNetns(this.hostNetns, td);
  }

  async prepare(): Promise<void> {}

  async create(it: Iteration): Promise<CreatedEndpoint> {
    const [first, ...rest] = this.conflist().plugins as Record<string, unknown>[];
    let result = await this.invoke('ADD', it, this.pluginConfig(first!, it));
    for (const plugin of rest) result = await this.invoke('ADD', it, this.pluginConfig(plugin, it, result));
    const address = result.ips?.[0]?.address;
    if (!address) throw new Error(`CNI result has no ips[0].address: ${JSON.stringify(result)}`);
    return { ip: address.split('/')[0]!, ref: JSON.stringify(result) };
  }

  async remove(it: Iteration, ep: CreatedEndpoint): Promise<void> {
    const cached = JSON.parse(ep.ref) as CniResult;
    const plugins = this.conflist().plugins;
    for (const plugin of [...plugins].reverse()) await this.invoke('DEL', it, this.pluginConfig(plugin, it, cached));
  }

  async release(): Promise<void> {}

  /**
   * One plugin's stdin as libcni builds it: the plugin's own config plus name and cniVersion,
   * prevResult when there is one, and runtimeConfig only for the capabilities the plugin declares.
   */
  private pluginConfig(plugin: Record<string, unknown>, it: Iteration, prevResult?: CniResult): Record<string, unknown> {
    const conf: Record<string, unknown> = { ...plugin, name: NETWORK_NAME, cniVersion: CNI_VERSION };
    const caps = plugin['capabilities'] as Record<string, boolean> | undefined;
    if (caps?.['portMappings']) {
      conf['runtimeConfig'] = { portMappings: [{ hostPort: it.hostPort, containerPort: 80, protocol: 'tcp' }] };
    }
    if (caps?.['bandwidth']) conf['runtimeConfig'] = { bandwidth: BENCH_BANDWIDTH };
    if (prevResult) conf['prevResult'] = prevResult;
    return conf;
  }

  private async invoke(command: 'ADD' | 'DEL', it: Iteration, conf: Record<string, unknown>): Promise<CniResult> {
    const type = String(conf['type']);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CNI_COMMAND: command,
      CNI_CONTAINERID: it.containerNetns,
      CNI_NETNS: netnsPath(it.containerNetns),
      CNI_IFNAME: 'eth0',
      CNI_PATH: this.pluginDir,
    };
    const { stdout } = await exec([join(this.pluginDir, type)], { netns: this.hostNetns, stdin: JSON.stringify(conf), env });
    if (command === 'DEL' || stdout.trim() === '') return {};
    return JSON.parse(stdout) as CniResult;
  }
}
