/**
 * Runs CNI plugins exactly as a runtime does: the binary from CNI_PATH, the CNI_* environment, the
 * config on stdin, executed in the test's host namespace (nsenter, so a chained plugin such as
 * firewall changes that namespace and never the machine's). The Switchyard plugin is installed with
 * `switchyard install-cni` into the test's own directory; Debian's reference plugins come from
 * /usr/lib/cni.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/dataplane/run.js';
import { installCni } from '../../src/cli/install-cni.js';
import type { World } from './world.js';

export const REFERENCE_DIR = '/usr/lib/cni';

export interface CniCall {
  command: string;
  containerId?: string;
  netns?: string;
  ifName?: string;
  conf: unknown;
  /** overrides of the CNI_* environment; undefined values remove the variable */
  env?: Record<string, string | undefined>;
  plugin?: string;
  stdin?: string;
  /** argv put in front of the invocation (e.g. strace watching it) */
  prefix?: string[];
}

export interface CniAnswer {
  exit: number;
  json: Record<string, unknown> | undefined;
  stdout: string;
  stderr: string;
  ms: number;
}

export class CniHarness {
  readonly binDir: string;
  readonly cniPath: string;

  constructor(
    private readonly w: World,
    readonly hostNs: string,
  ) {
    this.binDir = join(w.dir, 'cni-bin');
    mkdirSync(this.binDir, { recursive: true });
    installCni(this.binDir);
    this.cniPath = `${this.binDir}:${REFERENCE_DIR}`;
  }

  /** Invokes one plugin (switchyard unless `plugin` names another) and parses its stdout. */
  async call(c: CniCall): Promise<CniAnswer> {
    const plugin = c.plugin ?? 'switchyard';
    const dir = plugin === 'switchyard' ? this.binDir : REFERENCE_DIR;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: c.command,
      CNI_CONTAINERID: c.containerId ?? 'c0',
      CNI_NETNS: c.netns ?? '',
      CNI_IFNAME: c.ifName ?? 'eth0',
      CNI_PATH: this.cniPath,
    };
    for (const [k, v] of Object.entries(c.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    if (env.CNI_NETNS === '') delete env.CNI_NETNS;
    const t0 = performance.now();
    const res = await run([...(c.prefix ?? []), 'nsenter', `--net=/run/netns/${this.hostNs}`, '--', join(dir, plugin)], {
      stdin: c.stdin ?? JSON.stringify(c.conf),
      env,
      okExitCodes: [1, 2],
      timeoutMs: 60_000,
    });
    const ms = performance.now() - t0;
    let json: Record<string, unknown> | undefined;
    try {
      json = res.stdout.trim() ? (JSON.parse(res.stdout) as Record<string, unknown>) : undefined;
    } catch {
      json = undefined;
    }
    return { exit: res.exitCode, json, stdout: res.stdout, stderr: res.stderr, ms };
  }

  /** A network namespace for a container, made (and removed at cleanup) by the test world. */
  async container(short: string): Promise<string> {
    const name = await this.w.addNs(short);
    return `/run/netns/${name}`;
  }
}

/** One plugin's stdin inside a conflist, as libcni builds it. */
export function pluginConf(list: { cniVersion: string; name: string }, plugin: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: list.cniVersion, name: list.name, ...plugin, ...extra };
}
