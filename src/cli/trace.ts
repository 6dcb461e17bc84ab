/** `switchyard trace`: the request from flags, and the answer as a few readable lines. */
import { parseArgs } from 'node:util';

export function traceRequest(args: string[]): Record<string, unknown> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      in: { type: 'boolean' },
      out: { type: 'boolean' },
      proto: { type: 'string' },
      remote: { type: 'string' },
      'remote-port': { type: 'string' },
      port: { type: 'string' },
      'host-port': { type: 'string' },
      probe: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1 || values.in === values.out || !values.remote) {
    throw new Error('trace ENDPOINT --in|--out --remote IP [--proto tcp] [--remote-port N] [--port N] [--host-port N] [--probe]');
  }
  const port = (v: string | undefined, flag: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${flag} ${v}: not a port`);
    return n;
  };
  const num = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : v);
  return {
    Endpoint: positionals[0],
    Direction: values.in ? 'In' : 'Out',
    Protocol: num(values.proto ?? 'tcp'),
    RemoteAddress: values.remote,
    ...(values['remote-port'] ? { RemotePort: port(values['remote-port'], '--remote-port') } : {}),
    ...(values.port ? { LocalPort: port(values.port, '--port') } : {}),
    ...(values['host-port'] ? { HostPort: port(values['host-port'], '--host-port') } : {}),
    ...(values.probe ? { Probe: true } : {}),
  };
}

type Trace = {
  Verdict: string;
  DecidedBy: { Reason: string };
  Path: string[];
  Nat: string[];
  AclLayers: { Reason: string }[];
  Probe?: { Note: string; Hits: { Rule: string; Packets: number }[] };
};

export function traceText(d: Record<string, unknown>): string {
  const t = d as unknown as Trace;
  const lines = [`${t.Verdict.toUpperCase()}: ${t.DecidedBy.Reason}`];
  for (const p of t.Path) lines.push(`  path: ${p}`);
  for (const n of t.Nat) lines.push(`  nat:  ${n}`);
  for (const a of t.AclLayers) lines.push(`  acl:  ${a.Reason}`);
  if (t.Probe) {
    lines.push(`  probe: ${t.Probe.Note}`);
    for (const h of t.Probe.Hits) lines.push(`    counted on ${h.Rule} (+${h.Packets})`);
  }
  return lines.join('\n');
}
