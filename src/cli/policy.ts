/**
 * Policy arguments of the command line: HCN policy documents given as JSON (`--policy`, `endpoint
 * policy add|rm|set`), and bandwidth caps written as tc does (`--max-egress 50mbit`).
 */
const UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

/** "50mbit" → bytes per second (the unit HCN's QOS policy takes). */
export function parseRate(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/i.exec(s.trim());
  if (!m) throw new Error(`${flag} ${s}: write a rate such as 800kbit, 50mbit or 1gbit`);
  return Math.round((Number(m[1]) * UNITS[m[2]!.toLowerCase()]!) / 8);
}

/** A QOS policy from --max-egress / --max-ingress, or nothing when neither is given. */
export function qosPolicy(egress: string | undefined, ingress: string | undefined): { Type: 'QOS'; Settings: Record<string, number> }[] {
  if (!egress && !ingress) return [];
  return [
    {
      Type: 'QOS',
      Settings: {
        ...(egress ? { MaximumOutgoingBandwidthInBytes: parseRate(egress, '--max-egress') } : {}),
        ...(ingress ? { MaximumIncomingBandwidthInBytes: parseRate(ingress, '--max-ingress') } : {}),
      },
    },
  ];
}

/** One `--policy '{"Type":"ACL","Settings":{...}}'` argument. */
export function parsePolicyJson(s: string): { Type: string; Settings?: unknown } {
  let doc: unknown;
  try {
    doc = JSON.parse(s);
  } catch (e) {
    throw new Error(`policy ${s}: not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || typeof (doc as { Type?: unknown }).Type !== 'string') {
    throw new Error(`policy ${s}: write an HCN policy such as {"Type":"ACL","Settings":{...}}`);
  }
  return doc as { Type: string; Settings?: unknown };
}

/** One line of `endpoint policy ls`. */
export function policyRow(p: { Type: string; Settings?: Record<string, unknown> }): Record<string, string> {
  const s = p.Settings ?? {};
  const rest = Object.entries(s)
    .filter(([k]) => !['Id', 'Action', 'Direction', 'Priority'].includes(k))
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
    .join(' ');
  return {
    TYPE: p.Type,
    ID: String(s.Id ?? ''),
    DIRECTION: String(s.Direction ?? ''),
    ACTION: String(s.Action ?? ''),
    PRIORITY: s.Priority === undefined ? '' : String(s.Priority),
    SETTINGS: rest,
  };
}
