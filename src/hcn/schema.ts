/**
 * The HCN v2 documents as they travel on the host API, declared once as TypeBox schemas that give both
 * validation and TypeScript types. Field names and spellings follow hcsshim's `hcn` package ("ID",
 * PascalCase, empty structs tolerated); Switchyard's own additions are marked as extensions.
 * Fields HNS defines but Switchyard does not act on are accepted and kept, so hcsshim's documents
 * pass unchanged.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { SyError } from '../errors.js';

export const SchemaVersion = Type.Object({ Major: Type.Integer(), Minor: Type.Integer() });

export const Policy = Type.Object({
  Type: Type.String({ minLength: 1, maxLength: 64 }),
  Settings: Type.Optional(Type.Unknown()),
});
export type Policy = Static<typeof Policy>;

export const Route = Type.Object({
  NextHop: Type.Optional(Type.String({ maxLength: 64 })),
  DestinationPrefix: Type.Optional(Type.String({ maxLength: 64 })),
  Metric: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
});

export const Subnet = Type.Object({
  IpAddressPrefix: Type.Optional(Type.String({ maxLength: 64 })),
  Policies: Type.Optional(Type.Array(Policy, { maxItems: 64 })),
  Routes: Type.Optional(Type.Array(Route, { maxItems: 64 })),
  Flags: Type.Optional(Type.Integer({ minimum: 0 })),
});

export const Ipam = Type.Object({
  Type: Type.Optional(Type.String({ maxLength: 32 })),
  Subnets: Type.Optional(Type.Array(Subnet, { maxItems: 16 })),
});

export const Dns = Type.Object({
  Domain: Type.Optional(Type.String({ maxLength: 253 })),
  /** hcsshim's spelling of Domain */
  Suffix: Type.Optional(Type.String({ maxLength: 253 })),
  Search: Type.Optional(Type.Array(Type.String({ maxLength: 253 }), { maxItems: 6 })),
  ServerList: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 8 })),
  Options: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 16 })),
});
export type Dns = Static<typeof Dns>;

export const MacPool = Type.Object({
  Ranges: Type.Optional(
    Type.Array(Type.Object({ StartMacAddress: Type.Optional(Type.String()), EndMacAddress: Type.Optional(Type.String()) })),
  ),
});

export const HostComputeNetwork = Type.Object({
  ID: Type.Optional(Type.String({ maxLength: 64 })),
  Id: Type.Optional(Type.String({ maxLength: 64 })),
  Name: Type.String({ maxLength: 4096 }),
  Type: Type.String({ maxLength: 32 }),
  Policies: Type.Optional(Type.Array(Policy, { maxItems: 4096 })),
  MacPool: Type.Optional(MacPool),
  Dns: Type.Optional(Dns),
  Ipams: Type.Optional(Type.Array(Ipam, { maxItems: 4 })),
  Flags: Type.Optional(Type.Integer({ minimum: 0 })),
  MTU: Type.Optional(Type.Integer()),
  /**
   * Switchyard extension: an internal network (Docker's `--internal`; HNS has no such flag on a NAT
   * network): no outbound NAT, no forwarding beyond its bridge, no published ports.
   */
  Internal: Type.Optional(Type.Boolean()),
  SchemaVersion: Type.Optional(SchemaVersion),
});
export type HostComputeNetwork = Static<typeof HostComputeNetwork>;

export const IpConfig = Type.Object({
  IpAddress: Type.Optional(Type.String({ maxLength: 64 })),
  PrefixLength: Type.Optional(Type.Integer({ minimum: 0, maximum: 128 })),
});

export const HostComputeEndpoint = Type.Object({
  ID: Type.Optional(Type.String({ maxLength: 64 })),
  Id: Type.Optional(Type.String({ maxLength: 64 })),
  Name: Type.Optional(Type.String({ maxLength: 4096 })),
  HostComputeNetwork: Type.String({ maxLength: 256 }),
  HostComputeNamespace: Type.Optional(Type.String({ maxLength: 256 })),
  Policies: Type.Optional(Type.Array(Policy, { maxItems: 4096 })),
  IpConfigurations: Type.Optional(Type.Array(IpConfig, { maxItems: 4 })),
  Dns: Type.Optional(Dns),
  Routes: Type.Optional(Type.Array(Route, { maxItems: 64 })),
  MacAddress: Type.Optional(Type.String({ maxLength: 32 })),
  Flags: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Switchyard extension: name of the interface inside the namespace (default eth0). */
  InterfaceName: Type.Optional(Type.String({ maxLength: 15 })),
  /**
   * Switchyard extension: HostComputeNamespace may be the path of an existing namespace hostd does
   * not know yet; it is adopted with the endpoint (one request instead of two, for the CNI plugin)
   * and forgotten again when its last endpoint goes. Never creates a namespace.
   */
  AdoptNamespace: Type.Optional(Type.Boolean()),
  SchemaVersion: Type.Optional(SchemaVersion),
});
export type HostComputeEndpoint = Static<typeof HostComputeEndpoint>;

export const HostComputeNamespace = Type.Object({
  ID: Type.Optional(Type.String({ maxLength: 64 })),
  Id: Type.Optional(Type.String({ maxLength: 64 })),
  Type: Type.Optional(Type.String({ maxLength: 32 })),
  NamespaceId: Type.Optional(Type.Integer()),
  Resources: Type.Optional(Type.Array(Type.Unknown())),
  /** Switchyard extension: the Linux network namespace, a name under /run/netns or any bind-mounted path. */
  Path: Type.Optional(Type.String({ maxLength: 4096 })),
  SchemaVersion: Type.Optional(SchemaVersion),
});
export type HostComputeNamespace = Static<typeof HostComputeNamespace>;

/** HCN modify request: `{ResourceType: Policy, RequestType: Add|Remove|Update, Settings: {Policies:[...]}}`. */
export const ModifyRequest = Type.Object({
  ResourceType: Type.String({ maxLength: 32 }),
  RequestType: Type.String({ maxLength: 32 }),
  Settings: Type.Optional(Type.Unknown()),
});
export type ModifyRequest = Static<typeof ModifyRequest>;

export const AttachRequest = Type.Object({
  NamespaceId: Type.String({ maxLength: 256 }),
  /** Switchyard extension: the interface name inside the namespace, replacing the endpoint's (front doors choose eth1, eth2, ...). */
  InterfaceName: Type.Optional(Type.String({ maxLength: 15 })),
  /** Switchyard extension, as on endpoint create: NamespaceId may be the path of a namespace hostd does not know yet; it is adopted and forgotten again when its last endpoint leaves. */
  AdoptNamespace: Type.Optional(Type.Boolean()),
});

/** `POST /trace`: one packet of a new flow at an endpoint (Switchyard's own request). */
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
export const TraceRequest = Type.Object(
  {
    Endpoint: Type.String({ maxLength: 256 }),
    Direction: Type.Union([Type.Literal('In'), Type.Literal('Out')]),
    Protocol: Type.Union([Type.Integer(), Type.String({ maxLength: 8 })]),
    RemoteAddress: Type.String({ maxLength: 64 }),
    RemotePort: Type.Optional(Port),
    LocalPort: Type.Optional(Port),
    HostPort: Type.Optional(Port),
    Probe: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const PortMappingSettings = Type.Object({
  Protocol: Type.Optional(Type.Union([Type.Integer(), Type.String({ maxLength: 8 })])),
  InternalPort: Type.Integer(),
  ExternalPort: Type.Optional(Type.Integer()),
  /** the host address the mapping is bound to (empty: every host address) */
  VIP: Type.Optional(Type.String({ maxLength: 64 })),
  Flags: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Switchyard extension: map PortCount consecutive ports (host range → same-size container range). */
  PortCount: Type.Optional(Type.Integer()),
});
export type PortMappingSettings = Static<typeof PortMappingSettings>;

const compiled = new Map<TSchema, ReturnType<typeof TypeCompiler.Compile>>();

/**
 * Checks `value` against `schema` and returns it typed, or throws SY_BAD_REQUEST naming the first
 * offending field ("/Ipams/0/Subnets/0/IpAddressPrefix: Expected string").
 */
export function parseDoc<T extends TSchema>(schema: T, value: unknown, what: string): Static<T> {
  let checker = compiled.get(schema);
  if (!checker) {
    checker = TypeCompiler.Compile(schema);
    compiled.set(schema, checker);
  }
  if (checker.Check(value)) return value as Static<T>;
  const first = checker.Errors(value).First();
  const where = first?.path || '/';
  throw new SyError('SY_BAD_REQUEST', `Invalid ${what}: ${where}: ${first?.message ?? 'does not match the schema'}`);
}
