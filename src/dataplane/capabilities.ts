/**
 * What this host can do, found out once when hostd starts: the tools every network needs (ip, tc,
 * bridge, nft, nsenter) and the nftables families the modes need, checked against the kernel with
 * `nft --check` (a transaction that is sent and thrown away: nothing changes). hostd refuses to start
 * without what every mode needs, naming it, instead of answering "healthy" and failing at the first
 * request; `switchyard status` shows per mode whether it is supported here and why not.
 */
import { run } from './run.js';

export interface ModeSupport {
  Type: string;
  Supported: boolean;
  Reason?: string;
}

export interface HostCapabilities {
  /** what every network needs and this host lacks: hostd does not start */
  missing: string[];
  modes: ModeSupport[];
}

async function works(argv: string[], stdin?: string): Promise<string | undefined> {
  try {
    await run(argv, { timeoutMs: 5000, ...(stdin !== undefined ? { stdin } : {}) });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

const TOOLS: [string, string[]][] = [
  ['ip (iproute2)', ['ip', '-V']],
  ['tc (iproute2)', ['tc', '-V']],
  ['bridge (iproute2)', ['bridge', '-V']],
  ['nft (nftables)', ['nft', '--version']],
  ['nsenter (util-linux)', ['nsenter', '--version']],
];

/** A table of `family` with a base chain on `hook`, checked by the kernel and not kept. */
function probeTable(family: string, hook: string): string {
  return `table ${family} switchyard_probe {\n  chain c {\n    type filter hook ${hook} priority 0; policy accept;\n  }\n}\n`;
}

export async function probeCapabilities(): Promise<HostCapabilities> {
  const tools = await Promise.all(TOOLS.map(async ([what, argv]) => ((await works(argv)) ? what : undefined)));
  const missing = tools.filter((t): t is string => !!t);
  const nftOk = !missing.includes('nft (nftables)');
  const [inet, bridge, netdev] = nftOk
    ? await Promise.all([
        works(['nft', '--check', '-f', '-'], probeTable('inet', 'forward')),
        works(['nft', '--check', '-f', '-'], probeTable('bridge', 'prerouting')),
        works(['nft', '--check', '-f', '-'], probeTable('netdev', 'egress device "lo"')),
      ])
    : ['nft is missing', 'nft is missing', 'nft is missing'];
  if (inet) missing.push(`the nftables inet family (${inet})`);
  if (bridge) missing.push(`the nftables bridge family (${bridge})`);
  const base = missing.length ? `hostd cannot run here: ${missing.join(', ')}` : undefined;
  const rewrite = base ?? (netdev ? `the nftables netdev egress hook is missing (the adapter's outgoing MACs are rewritten there): ${netdev}` : undefined);
  const mode = (Type: string, reason: string | undefined): ModeSupport => ({ Type, Supported: !reason, ...(reason ? { Reason: reason } : {}) });
  return {
    missing,
    modes: [
      mode('NAT', base),
      mode('Transparent', base),
      mode('L2Bridge', rewrite),
      mode('L2Tunnel', rewrite),
      mode('Overlay', base),
    ],
  };
}
