/**
 * The messages of Docker's libnetwork remote NetworkDriver and IpamDriver protocols, as Docker 20.10
 * sends them (shared/notes/docker-remote-driver.md), declared once as TypeBox schemas: validation and
 * types. Docker sends more fields than listed; extra fields are tolerated, as are `null`s where Go
 * marshals an empty map or slice.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const DockerId = Type.String({ pattern: '^[0-9a-f]{64}$' });
const Nullable = <T extends TSchema>(t: T) => Type.Optional(Type.Union([t, Type.Null()]));

export const IPAMData = Type.Object({
  AddressSpace: Type.Optional(Type.String({ maxLength: 256 })),
  Pool: Type.String({ maxLength: 64 }),
  Gateway: Type.Optional(Type.String({ maxLength: 64 })),
  AuxAddresses: Nullable(Type.Record(Type.String(), Type.String({ maxLength: 64 }))),
});

export const CreateNetworkRequest = Type.Object({
  NetworkID: DockerId,
  Options: Nullable(Type.Record(Type.String(), Type.Unknown())),
  IPv4Data: Nullable(Type.Array(IPAMData, { maxItems: 16 })),
  IPv6Data: Nullable(Type.Array(IPAMData, { maxItems: 16 })),
});
export type CreateNetworkRequest = Static<typeof CreateNetworkRequest>;

export const NetworkRequest = Type.Object({ NetworkID: DockerId });

export const EndpointRequest = Type.Object({ NetworkID: DockerId, EndpointID: DockerId });

/** `com.docker.network.portmap` entries. */
export const PortBinding = Type.Object({
  Proto: Type.Integer(),
  IP: Type.Optional(Type.String({ maxLength: 64 })),
  Port: Type.Integer(),
  HostIP: Type.Optional(Type.String({ maxLength: 64 })),
  HostPort: Type.Integer(),
  HostPortEnd: Type.Optional(Type.Integer()),
});
export type PortBinding = Static<typeof PortBinding>;

export const EndpointOptions = Type.Object({
  'com.docker.network.portmap': Nullable(Type.Array(PortBinding, { maxItems: 4096 })),
  /** base64 of the 6 bytes of a user-given MAC (`docker run --mac-address`) */
  'com.docker.network.endpoint.macaddress': Type.Optional(Type.String({ maxLength: 64 })),
});

export const CreateEndpointRequest = Type.Object({
  NetworkID: DockerId,
  EndpointID: DockerId,
  Interface: Nullable(
    Type.Object({
      Address: Type.Optional(Type.String({ maxLength: 64 })),
      AddressIPv6: Type.Optional(Type.String({ maxLength: 64 })),
      MacAddress: Type.Optional(Type.String({ maxLength: 64 })),
    }),
  ),
  Options: Nullable(Type.Record(Type.String(), Type.Unknown())),
});
export type CreateEndpointRequest = Static<typeof CreateEndpointRequest>;

export const JoinRequest = Type.Object({
  NetworkID: DockerId,
  EndpointID: DockerId,
  SandboxKey: Type.String({ minLength: 1, maxLength: 1024 }),
  Options: Nullable(Type.Record(Type.String(), Type.Unknown())),
});
export type JoinRequest = Static<typeof JoinRequest>;

export const ProgramRequest = Type.Object({
  NetworkID: DockerId,
  EndpointID: DockerId,
  Options: Nullable(Type.Record(Type.String(), Type.Unknown())),
});
export type ProgramRequest = Static<typeof ProgramRequest>;

// ---- IPAM ------------------------------------------------------------------------------------

export const RequestPoolRequest = Type.Object({
  AddressSpace: Type.Optional(Type.String({ maxLength: 256 })),
  Pool: Type.Optional(Type.String({ maxLength: 64 })),
  SubPool: Type.Optional(Type.String({ maxLength: 64 })),
  Options: Nullable(Type.Record(Type.String(), Type.String({ maxLength: 1024 }))),
  V6: Type.Optional(Type.Boolean()),
});
export type RequestPoolRequest = Static<typeof RequestPoolRequest>;

export const ReleasePoolRequest = Type.Object({ PoolID: Type.String({ maxLength: 256 }) });

export const RequestAddressRequest = Type.Object({
  PoolID: Type.String({ maxLength: 256 }),
  Address: Type.Optional(Type.String({ maxLength: 64 })),
  Options: Nullable(Type.Record(Type.String(), Type.String({ maxLength: 1024 }))),
});
export type RequestAddressRequest = Static<typeof RequestAddressRequest>;

export const ReleaseAddressRequest = Type.Object({
  PoolID: Type.String({ maxLength: 256 }),
  Address: Type.String({ maxLength: 64 }),
});
