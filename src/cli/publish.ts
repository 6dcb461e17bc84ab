/**
 * Parses `--publish [HOSTIP:]HOSTPORT[-END]:PORT[-END][/PROTO]` (and Docker's `PORT[/PROTO]` and
 * `HOSTIP::PORT` for a host port chosen by Switchyard) into HCN PortMapping policies.
 */
const PROTOS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

export interface PortMappingPolicy {
  Type: 'PortMapping';
  Settings: { Protocol: number; InternalPort: number; ExternalPort: number; VIP?: string; PortCount?: number };
}

function range(s: string, what: string, spec: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
  if (!m) throw new Error(`--publish ${spec}: ${what} "${s}" is not a port or a port range`);
  const a = Number(m[1]);
  const b = m[2] !== undefined ? Number(m[2]) : a;
  if (a > 65535 || b > 65535 || b < a) throw new Error(`--publish ${spec}: ${what} "${s}" is not a valid range`);
  return [a, b];
}

export function parsePublish(spec: string): PortMappingPolicy {
  let rest = spec;
  let proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
  }
  if (!(proto in PROTOS)) throw new Error(`--publish ${spec}: protocol "${proto}" is not tcp, udp or sctp`);
  const parts = rest.split(':');
  let hostIp = '';
  let hostPart = '';
  let ctrPart: string;
  if (parts.length === 1) ctrPart = parts[0]!;
  else if (parts.length === 2) [hostPart, ctrPart] = parts as [string, string];
  else if (parts.length === 3) [hostIp, hostPart, ctrPart] = parts as [string, string, string];
  else throw new Error(`--publish ${spec}: expected [HOSTIP:]HOSTPORT:PORT[/PROTO]`);
  const [c1, c2] = range(ctrPart, 'container port', spec);
  if (c1 === 0) throw new Error(`--publish ${spec}: container port 0 is not a port`);
  let h1 = 0;
  if (hostPart !== '') {
    const [a, b] = range(hostPart, 'host port', spec);
    if (b - a !== c2 - c1) throw new Error(`--publish ${spec}: the host range and the container range differ in size`);
    h1 = a;
  }
  const count = c2 - c1 + 1;
  return {
    Type: 'PortMapping',
    Settings: {
      Protocol: PROTOS[proto]!,
      InternalPort: c1,
      ExternalPort: h1,
      ...(hostIp ? { VIP: hostIp } : {}),
      ...(count > 1 ? { PortCount: count } : {}),
    },
  };
}
