/**
 * The Switchyard CNI plugin as a runtime drives it: the binary `switchyard install-cni` put in place,
 * CNI_* environment, config on stdin with the port mapping as runtimeConfig, run under `nsenter
 * --net` in the bench host namespace exactly like the reference chain (so both pay the same
 * nsenter). hostd runs in that namespace; the plugin's first ADD (the warm-up) makes the network.
 */
import { join } from 'node:path';
import { exec, netnsPath } from '../lib/exec.js';
import type { Teardown } from '../lib/teardown.js';
import type { CreatedEndpoint, EndpointPath, Iteration } from '../lifecycle/path.js';
import { BENCH_BANDWIDTH } from '../lifecycle/cni-path.js';

export class SwitchyardCniPath implements EndpointPath {
  readonly key: string;
  readonly title: string;

  /** `bandwidth`: the runtime asks for the same caps as the reference chain's bandwidth plugin gets. */
  constructor(
    readonly hostNetns: string,
    private readonly pluginDir: string,
    private readonly socket: string,
    private readonly opts: { bandwidth?: boolean } = {},
  ) {
    this.key = opts.bandwidth ? 'switchyard-cni-bw' : 'switchyard-cni';
    this.title = opts.bandwidth ? 'Switchyard CNI plugin (→ hostd), with bandwidth' : 'Switchyard CNI plugin (→ hostd)';
  }

  async setup(_td: Teardown): Promise<void> {}
  async prepare(): Promise<void> {}
  async release(): Promise<void> {}

  private conf(it: Iteration, withRuntime: boolean): Record<string, unknown> {
    return {
      cniVersion: '1.1.0',
      name: 'sybench',
      type: 'switchyard',
      subnet: '10.79.0.0/16',
      socket: this.socket,
      capabilities: { portMappings: true, ...(this.opts.bandwidth ? { bandwidth: true } : {}) },
      ...(withRuntime
        ? {
            runtimeConfig: {
              portMappings: [{ hostPort: it.hostPort + (this.opts.bandwidth ? 20_000 : 0), containerPort: 80, protocol: 'tcp' }],
              ...(this.opts.bandwidth ? { bandwidth: BENCH_BANDWIDTH } : {}),
            },
          }
        : {}),
    };
  }

  async create(it: Iteration): Promise<CreatedEndpoint> {
    const out = await this.invoke('ADD', it, this.conf(it, true));
    const r = JSON.parse(out) as { ips?: { address?: string }[] };
    const address = r.ips?.[0]?.address;
    if (!address) throw new Error(`CNI result has no ips[0].address: ${out}`);
    return { ip: address.split('/')[0]!, ref: out };
  }

  async remove(it: Iteration, ep: CreatedEndpoint): Promise<void> {
    await this.invoke('DEL', it, { ...this.conf(it, false), prevResult: JSON.parse(ep.ref) });
  }

  private async invoke(command: 'ADD' | 'DEL', it: Iteration, conf: Record<string, unknown>): Promise<string> {
    // the bench's environment plus the CNI_* variables, as libcni gives it, and as the chain gets it
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CNI_COMMAND: command,
      CNI_CONTAINERID: it.containerNetns,
      CNI_NETNS: netnsPath(it.containerNetns),
      CNI_IFNAME: 'eth0',
      CNI_PATH: this.pluginDir,
    };
    const { stdout } = await exec([join(this.pluginDir, 'switchyard')], { netns: this.hostNetns, stdin: JSON.stringify(conf), env });
    return stdout;
  }
}
