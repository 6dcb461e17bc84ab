/**
 * A collection's list and a resource's page: virtual networks (address space, subnets), network
 * interfaces (IPs, MAC, server, configurationState), and every other collection generically (a table,
 * its JSON, a JSON editor), so a collection or field the portal does not know yet still shows. Writes
 * go to the API with the resource's etag (If-Match); the page changes when the watch brings the
 * change, not before.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { pathOf, type Doc } from './api.js';
import { Field, Form, RawJson, Select, StateBadge, UnknownFields, useAutoFocus, useDraft, useSubmit } from './forms.js';
import type { Session } from './main.js';

const TITLES: Record<string, string> = {
  virtualNetworks: 'Virtual networks',
  accessControlLists: 'Access control lists',
  networkInterfaces: 'Network interfaces',
  publicIPAddresses: 'Public IP addresses',
  routeTables: 'Route tables',
  servers: 'Servers',
  logicalNetworks: 'Logical networks',
  macPools: 'MAC pools',
  credentials: 'Credentials',
};

/** "someNewThings" → "Some new things" for collections the portal does not know. */
export const titleOf = (c: string): string => TITLES[c] ?? c.replace(/([A-Z])/g, ' $1').replace(/^./, (x) => x.toUpperCase());

type Ref = { resourceRef: string } | undefined;
const refOf = (v: unknown): string | undefined => (v as Ref)?.resourceRef;
const lastId = (ref: string | undefined): string => (ref ? ref.split('/').at(-1)! : '');
export const children = (d: Doc | undefined, name: string): Doc[] => ((d?.properties[name] ?? []) as Doc[]).filter((x) => x && typeof x === 'object');
const list = (v: string): string[] =>
  v
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);

interface Column {
  title: string;
  cell: (d: Doc, s: Session) => ComponentChildren;
}

/** What a list shows beyond the name, tenant and states, per known collection. */
const COLUMNS: Record<string, Column[]> = {
  virtualNetworks: [
    { title: 'Address space', cell: (d) => ((d.properties.addressSpace as { addressPrefixes?: string[] } | undefined)?.addressPrefixes ?? []).join(', ') },
    { title: 'Subnets', cell: (d) => children(d, 'subnets').map((s) => `${s.resourceId} ${String(s.properties.addressPrefix)}`).join(', ') },
  ],
  accessControlLists: [
    { title: 'Inbound rules', cell: (d) => children(d, 'aclRules').filter((r) => r.properties.type === 'Inbound').length },
    { title: 'Outbound rules', cell: (d) => children(d, 'aclRules').filter((r) => r.properties.type === 'Outbound').length },
  ],
  networkInterfaces: [
    { title: 'IPs', cell: (d) => children(d, 'ipConfigurations').map((c) => String(c.properties.privateIPAddress ?? '')).join(', ') },
    { title: 'MAC', cell: (d) => String(d.properties.privateMacAddress ?? '') },
    { title: 'Server', cell: (d) => lastId(refOf(d.properties.server)) },
  ],
  servers: [
    { title: 'Management addresses', cell: (d) => ((d.properties.connections ?? []) as { managementAddresses?: string[] }[]).flatMap((c) => c.managementAddresses ?? []).join(', ') },
    { title: 'NICs', cell: (d, s) => s.live.docs('networkInterfaces').filter((n) => refOf(n.properties.server) === d.resourceRef).length },
    // health, heartbeat and version come with the host agents' reports (issue 16): until then, the report's time
    { title: 'Last report', cell: (d, s) => String((s.live.reportOf(d.resourceRef, d.properties) as { lastUpdatedTime?: string } | undefined)?.lastUpdatedTime ?? '—') },
  ],
  macPools: [{ title: 'Range', cell: (d) => `${String(d.properties.startMacAddress)} – ${String(d.properties.endMacAddress)}` }],
  logicalNetworks: [{ title: 'Subnets', cell: (d) => children(d, 'subnets').map((s) => String(s.properties.addressPrefix)).join(', ') }],
};

export function CollectionPage(props: { session: Session; collection: string; id: string | undefined; showTenant: boolean }) {
  const { session, collection, id } = props;
  if (id) {
    const doc = session.live.doc(collection, id);
    if (!doc)
      return (
        <section>
          <h1>{titleOf(collection)}</h1>
          <p role="status">
            There is no {collection} resource "{id}" (or it was deleted). <a href={`#/c/${collection}`}>Back to the list</a>
          </p>
        </section>
      );
    return <ResourcePage session={session} collection={collection} doc={doc} showTenant={props.showTenant} />;
  }
  return <ListPage {...props} />;
}

function ListPage(props: { session: Session; collection: string; showTenant: boolean }) {
  const { session, collection } = props;
  const [creating, setCreating] = useState(false);
  const docs = session.live.docs(collection);
  const cols = COLUMNS[collection] ?? [];
  return (
    <section>
      <div class="title-row">
        <h1>{titleOf(collection)}</h1>
        {!creating && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            New
          </button>
        )}
      </div>
      {creating && <CreateForm session={session} collection={collection} onDone={() => setCreating(false)} />}
      {docs.length === 0 ? (
        <p class="empty">None yet.</p>
      ) : (
        <Table testid={`list-${collection}`} heads={['Name', ...(props.showTenant ? ['Tenant'] : []), ...cols.map((c) => c.title), 'Provisioning', 'Configuration']}>
          {docs.map((d) => (
            <tr key={d.resourceId} data-id={d.resourceId}>
              <th scope="row">
                <a href={`#/c/${collection}/${encodeURIComponent(d.resourceId)}`}>{d.resourceId}</a>
              </th>
              {props.showTenant && <td data-testid="tenant">{d.resourceMetadata?.tenantId ?? ''}</td>}
              {cols.map((c) => (
                <td key={c.title}>{c.cell(d, session)}</td>
              ))}
              <td>{String(d.properties.provisioningState ?? '')}</td>
              <td>
                <StateBadge state={session.live.reportOf(d.resourceRef, d.properties)} />
              </td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}

/** The create form of a collection: a form of its own for the portal's main kinds, JSON for the others. */
function CreateForm(props: { session: Session; collection: string; onDone: () => void }) {
  const { collection } = props;
  if (collection === 'virtualNetworks') return <VnetCreate {...props} />;
  if (collection === 'networkInterfaces') return <NicCreate {...props} />;
  if (collection === 'accessControlLists') return <AclCreate {...props} />;
  return <JsonEditor {...props} title={`New ${titleOf(collection).replace(/s$/, '').toLowerCase()}`} />;
}

function VnetCreate(props: { session: Session; onDone: () => void }) {
  const [v, set] = useState({ resourceId: '', addressPrefixes: '', subnetId: '', addressPrefix: '' });
  const s = useSubmit(['resourceId', 'addressPrefixes', 'subnetId', 'addressPrefix']);
  const submit = () =>
    s.run(async () => {
      const subnets = v.subnetId || v.addressPrefix ? [{ resourceId: v.subnetId, properties: { addressPrefix: v.addressPrefix } }] : [];
      await props.session.api.put(pathOf('virtualNetworks', v.resourceId), { properties: { addressSpace: { addressPrefixes: list(v.addressPrefixes) }, subnets } });
      props.onDone();
      location.hash = `#/c/virtualNetworks/${encodeURIComponent(v.resourceId)}`;
    });
  return (
    <Form title="New virtual network" submit="Create" busy={s.busy} error={s.error} onSubmit={submit} onCancel={props.onDone}>
      <Field label="Name (resourceId)" name="resourceId" value={v.resourceId} autoFocus onInput={(x) => set({ ...v, resourceId: x })} error={s.errorFor('resourceId')} />
      <Field label="Address space" name="addressPrefixes" hint="IPv4 prefixes, comma separated" placeholder="10.1.0.0/16" value={v.addressPrefixes} onInput={(x) => set({ ...v, addressPrefixes: x })} error={s.errorFor('addressPrefixes')} />
      <Field label="First subnet name (optional)" name="subnetId" value={v.subnetId} onInput={(x) => set({ ...v, subnetId: x })} error={s.errorFor('subnetId')} />
      <Field label="First subnet prefix" name="addressPrefix" placeholder="10.1.1.0/24" value={v.addressPrefix} onInput={(x) => set({ ...v, addressPrefix: x })} error={s.errorFor('addressPrefix')} />
    </Form>
  );
}

function AclCreate(props: { session: Session; onDone: () => void }) {
  const [id, setId] = useState('');
  const s = useSubmit(['resourceId']);
  const submit = () =>
    s.run(async () => {
      await props.session.api.put(pathOf('accessControlLists', id), { properties: { aclRules: [] } });
      props.onDone();
      location.hash = `#/c/accessControlLists/${encodeURIComponent(id)}`;
    });
  return (
    <Form title="New access control list" submit="Create" busy={s.busy} error={s.error} onSubmit={submit} onCancel={props.onDone}>
      <Field label="Name (resourceId)" name="resourceId" value={id} autoFocus onInput={setId} error={s.errorFor('resourceId')} />
    </Form>
  );
}

/** Every subnet the token can see, as [resourceRef, "vnet / subnet (prefix)"]. */
export const subnetOptions = (s: Session): [string, string][] =>
  s.live.docs('virtualNetworks').flatMap((vn) => children(vn, 'subnets').map((sn): [string, string] => [sn.resourceRef, `${vn.resourceId} / ${sn.resourceId} (${String(sn.properties.addressPrefix)})`]));

function NicCreate(props: { session: Session; onDone: () => void }) {
  const { session } = props;
  const subnets = subnetOptions(session);
  const [v, set] = useState({ resourceId: '', ipId: 'ip1', subnet: subnets[0]?.[0] ?? '', privateIPAddress: '', server: '' });
  const s = useSubmit(['resourceId', 'privateIPAddress', 'subnet', 'server', 'privateMacAddress']);
  const submit = () =>
    s.run(async () => {
      const ip = v.privateIPAddress ? { privateIPAddress: v.privateIPAddress, privateIPAllocationMethod: 'Static' } : { privateIPAllocationMethod: 'Dynamic' };
      await session.api.put(pathOf('networkInterfaces', v.resourceId), {
        properties: {
          ipConfigurations: [{ resourceId: v.ipId, properties: { ...ip, subnet: { resourceRef: v.subnet } } }],
          ...(v.server ? { server: { resourceRef: v.server } } : {}),
        },
      });
      props.onDone();
      location.hash = `#/c/networkInterfaces/${encodeURIComponent(v.resourceId)}`;
    });
  return (
    <Form title="New network interface" submit="Create" busy={s.busy} error={s.error} onSubmit={submit} onCancel={props.onDone}>
      <Field label="Name (resourceId)" name="resourceId" value={v.resourceId} autoFocus onInput={(x) => set({ ...v, resourceId: x })} error={s.errorFor('resourceId')} />
      <Field label="IP configuration name" name="ipId" value={v.ipId} onInput={(x) => set({ ...v, ipId: x })} />
      <Select label="Subnet" name="subnet" value={v.subnet} options={subnets} onInput={(x) => set({ ...v, subnet: x })} error={s.errorFor('subnet')} />
      <Field label="Static IP (empty: the next free one)" name="privateIPAddress" value={v.privateIPAddress} onInput={(x) => set({ ...v, privateIPAddress: x })} error={s.errorFor('privateIPAddress')} />
      <ServerField session={session} value={v.server} onInput={(x) => set({ ...v, server: x })} error={s.errorFor('server')} />
    </Form>
  );
}

/** An admin picks among the servers; a tenant (who cannot list them) names one by resourceRef. */
function ServerField(props: { session: Session; value: string; onInput: (v: string) => void; error: string | undefined }) {
  const { session } = props;
  if (session.role === 'admin')
    return <Select label="Server" name="server" value={props.value} options={[['', '(not placed)'], ...session.live.docs('servers').map((d): [string, string] => [d.resourceRef, d.resourceId])]} onInput={props.onInput} error={props.error} />;
  return <Field label="Server (resourceRef, optional)" name="server" placeholder="/servers/host1" value={props.value} onInput={props.onInput} error={props.error} />;
}

/** A resource as PUT JSON (the collections the portal has no form for). */
function JsonEditor(props: { session: Session; collection: string; doc?: Doc; title: string; onDone: () => void }) {
  const { doc } = props;
  const [id, setId] = useState(doc?.resourceId ?? '');
  const [text, setText] = useState(JSON.stringify(doc ? { tags: doc.tags, properties: doc.properties } : { properties: {} }, null, 2));
  // the version the text was taken from: a change meanwhile makes the save a 412
  const [etag] = useState(doc?.etag);
  const s = useSubmit(['resourceId']);
  const submit = () =>
    s.run(async () => {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (e) {
        throw new Error(`Not JSON: ${String(e)}`);
      }
      await props.session.api.put(pathOf(props.collection, id), body, etag);
      props.onDone();
      if (!doc) location.hash = `#/c/${props.collection}/${encodeURIComponent(id)}`;
    });
  return (
    <Form title={props.title} submit={doc ? 'Save' : 'Create'} busy={s.busy} error={s.error} onSubmit={submit} onCancel={props.onDone}>
      {!doc && <Field label="Name (resourceId)" name="resourceId" value={id} autoFocus onInput={setId} error={s.errorFor('resourceId')} />}
      <div class="field">
        <label for="json-body">Document (JSON)</label>
        <textarea id="json-body" name="json" rows={12} spellcheck={false} value={text} onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)} />
      </div>
    </Form>
  );
}

/** A scrollable table with a header row ('' heads a column of buttons, named for screen readers). */
function Table(props: { testid: string; heads: string[]; children: ComponentChildren }) {
  return (
    <div class="table-wrap">
      <table data-testid={props.testid}>
        <thead>
          <tr>
            {props.heads.map((h, i) => (
              <th scope="col" key={i}>
                {h || <span class="sr-only">Actions</span>}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

/** "Delete", then "Delete X?" with a confirm and a keep button: no browser dialog, all keyboard reachable. */
export function DeleteButton(props: { what: string; onDelete: () => Promise<void> }) {
  const [asking, setAsking] = useState(false);
  const s = useSubmit([]);
  if (!asking)
    return (
      <button type="button" class="danger" onClick={() => setAsking(true)}>
        Delete {props.what}
      </button>
    );
  return <ConfirmDelete {...props} busy={s.busy} error={s.error?.message} onYes={() => void s.run(props.onDelete)} onKeep={() => setAsking(false)} />;
}

function ConfirmDelete(props: { what: string; busy: boolean; error: string | undefined; onYes: () => void; onKeep: () => void }) {
  const ref = useAutoFocus<HTMLButtonElement>(true);
  return (
    <span class="confirm" role="group" aria-label={`Delete ${props.what}?`}>
      <span>Delete {props.what}?</span>
      <button ref={ref} type="button" class="danger" disabled={props.busy} onClick={props.onYes}>
        Yes, delete
      </button>
      <button type="button" onClick={props.onKeep}>
        Keep
      </button>
      {props.error && (
        <span class="form-error" role="alert">
          {props.error}
        </span>
      )}
    </span>
  );
}

/** The head of a resource page: name, tenant, states, delete. */
export function ResourceHeader(props: { session: Session; collection: string; doc: Doc; showTenant: boolean }) {
  const { session, collection, doc } = props;
  return (
    <div class="resource-head">
      <p class="crumbs">
        <a href={`#/c/${collection}`}>{titleOf(collection)}</a> /
      </p>
      <h1>{doc.resourceId}</h1>
      <dl class="facts">
        {props.showTenant && (
          <>
            <dt>Tenant</dt>
            <dd data-testid="tenant">{doc.resourceMetadata?.tenantId ?? ''}</dd>
          </>
        )}
        <dt>Provisioning</dt>
        <dd>{String(doc.properties.provisioningState ?? '')}</dd>
        <dt>Configuration</dt>
        <dd>
          <StateBadge state={session.live.reportOf(doc.resourceRef, doc.properties)} />
        </dd>
      </dl>
      <DeleteButton
        what={doc.resourceId}
        onDelete={async () => {
          await session.api.del(pathOf(collection, doc.resourceId), doc.etag);
          location.hash = `#/c/${collection}`;
        }}
      />
    </div>
  );
}

function ResourcePage(props: { session: Session; collection: string; doc: Doc; showTenant: boolean }) {
  const { session, collection, doc } = props;
  const [editing, setEditing] = useState(false);
  const known = KNOWN_FIELDS[collection];
  const report = session.live.reportOf(doc.resourceRef, doc.properties);
  return (
    <section>
      <ResourceHeader {...props} />
      {report ? <RawJson value={report} label="Latest report from the hosts (configurationState)" open /> : null}
      {collection === 'virtualNetworks' && <VnetBody session={session} doc={doc} />}
      {collection === 'networkInterfaces' && <NicBody session={session} doc={doc} />}
      {!known &&
        (editing ? (
          <JsonEditor session={session} collection={collection} doc={doc} title={`Edit ${doc.resourceId}`} onDone={() => setEditing(false)} />
        ) : (
          <button type="button" onClick={() => setEditing(true)}>
            Edit as JSON
          </button>
        ))}
      {known ? <UnknownFields props={doc.properties} known={known} /> : <RawJson value={doc.properties} label="Properties" open />}
      <RawJson value={doc} label="The whole document (JSON)" />
    </section>
  );
}

/** The properties each specific page shows; any other is shown raw. */
export const KNOWN_FIELDS: Record<string, string[]> = {
  virtualNetworks: ['addressSpace', 'subnets'],
  networkInterfaces: ['ipConfigurations', 'privateMacAddress', 'privateMacAllocationMethod', 'server'],
  accessControlLists: ['aclRules'],
};

function VnetBody(props: { session: Session; doc: Doc }) {
  const { session, doc } = props;
  const prefixes = ((doc.properties.addressSpace as { addressPrefixes?: string[] } | undefined)?.addressPrefixes ?? []).join(', ');
  const space = useDraft(prefixes, doc.etag);
  const [adding, setAdding] = useState(false);
  const s = useSubmit(['addressPrefixes']);
  const subnets = children(doc, 'subnets');
  const save = () =>
    s.run(async () => {
      await session.api.put(pathOf('virtualNetworks', doc.resourceId), { tags: doc.tags, properties: { ...doc.properties, addressSpace: { addressPrefixes: list(space.value) } } }, space.etag);
      space.done();
    });
  return (
    <>
      <Form title="Address space" submit="Save address space" busy={s.busy} error={s.error} onSubmit={save}>
        <Field label="Address prefixes" name="addressPrefixes" hint="comma separated" value={space.value} onInput={space.set} error={s.errorFor('addressPrefixes')} />
      </Form>
      <div class="title-row">
        <h2>Subnets</h2>
        {!adding && (
          <button type="button" onClick={() => setAdding(true)}>
            Add subnet
          </button>
        )}
      </div>
      {adding && <SubnetForm session={session} vnet={doc} onDone={() => setAdding(false)} />}
      <Table testid="subnets" heads={['Subnet', 'Prefix', 'ACL', 'IP configurations', 'Configuration', '']}>
        {subnets.map((sn) => (
          <SubnetRow key={sn.resourceId} session={session} vnet={doc} subnet={sn} />
        ))}
      </Table>
    </>
  );
}

function SubnetRow(props: { session: Session; vnet: Doc; subnet: Doc }) {
  const { session, vnet, subnet } = props;
  const [editing, setEditing] = useState(false);
  const acl = refOf(subnet.properties.accessControlList);
  const ipcs = (subnet.properties.ipConfigurations ?? []) as { resourceRef: string }[];
  return (
    <>
      <tr data-id={subnet.resourceId}>
        <th scope="row">{subnet.resourceId}</th>
        <td>{String(subnet.properties.addressPrefix ?? '')}</td>
        <td>{acl ? <a href={`#/c/accessControlLists/${encodeURIComponent(lastId(acl))}`}>{lastId(acl)}</a> : '—'}</td>
        <td>{ipcs.map((r) => r.resourceRef.split('/')[2]).join(', ') || '—'}</td>
        <td>
          <StateBadge state={session.live.reportOf(subnet.resourceRef, subnet.properties)} />
        </td>
        <td class="row-actions">
          <button type="button" onClick={() => setEditing(!editing)} aria-expanded={editing}>
            Edit <span class="sr-only">subnet {subnet.resourceId}</span>
          </button>
          <DeleteButton what={`subnet ${subnet.resourceId}`} onDelete={() => session.api.del(pathOf('virtualNetworks', vnet.resourceId, 'subnets', subnet.resourceId)).then(() => undefined)} />
        </td>
      </tr>
      {editing && (
        <tr>
          <td colSpan={6}>
            <SubnetForm session={session} vnet={vnet} subnet={subnet} onDone={() => setEditing(false)} />
          </td>
        </tr>
      )}
    </>
  );
}

function SubnetForm(props: { session: Session; vnet: Doc; subnet?: Doc; onDone: () => void }) {
  const { session, vnet, subnet } = props;
  const [v, set] = useState({ resourceId: subnet?.resourceId ?? '', addressPrefix: String(subnet?.properties.addressPrefix ?? ''), acl: refOf(subnet?.properties.accessControlList) ?? '' });
  const s = useSubmit(['resourceId', 'addressPrefix', 'accessControlList']);
  const acls: [string, string][] = [['', '(none)'], ...session.live.docs('accessControlLists').map((a): [string, string] => [a.resourceRef, a.resourceId])];
  const submit = () =>
    s.run(async () => {
      // the subnet's own properties are kept (a routeTable, fields the portal does not know); the read-only ones are ignored by the API
      const { accessControlList: _old, ...rest } = subnet?.properties ?? {};
      const properties = { ...rest, addressPrefix: v.addressPrefix, ...(v.acl ? { accessControlList: { resourceRef: v.acl } } : {}) };
      await session.api.put(pathOf('virtualNetworks', vnet.resourceId, 'subnets', v.resourceId), { properties });
      props.onDone();
    });
  return (
    <Form title={subnet ? `Edit subnet ${subnet.resourceId}` : 'New subnet'} submit={subnet ? 'Save subnet' : 'Add subnet'} busy={s.busy} error={s.error} onSubmit={submit} onCancel={props.onDone}>
      {!subnet && <Field label="Subnet name" name="resourceId" value={v.resourceId} autoFocus onInput={(x) => set({ ...v, resourceId: x })} error={s.errorFor('resourceId')} />}
      <Field label="Address prefix" name="addressPrefix" placeholder="10.1.2.0/24" value={v.addressPrefix} autoFocus={!!subnet} onInput={(x) => set({ ...v, addressPrefix: x })} error={s.errorFor('addressPrefix')} />
      <Select label="Access control list" name="accessControlList" value={v.acl} options={acls} onInput={(x) => set({ ...v, acl: x })} error={s.errorFor('accessControlList')} />
    </Form>
  );
}

function NicBody(props: { session: Session; doc: Doc }) {
  const { session, doc } = props;
  const p = doc.properties;
  const server = useDraft(refOf(p.server) ?? '', doc.etag);
  const [adding, setAdding] = useState(false);
  const s = useSubmit(['server', 'privateMacAddress']);
  const save = () =>
    s.run(async () => {
      const { server: _old, ...rest } = p;
      await session.api.put(pathOf('networkInterfaces', doc.resourceId), { tags: doc.tags, properties: { ...rest, ...(server.value ? { server: { resourceRef: server.value } } : {}) } }, server.etag);
      server.done();
    });
  return (
    <>
      <dl class="facts">
        <dt>MAC</dt>
        <dd data-testid="mac">
          {String(p.privateMacAddress ?? '')} ({String(p.privateMacAllocationMethod ?? '')})
        </dd>
        <dt>Server</dt>
        <dd>{refOf(p.server) ?? 'not placed'}</dd>
      </dl>
      <Form title="Placement" submit="Save placement" busy={s.busy} error={s.error} onSubmit={save}>
        <ServerField session={session} value={server.value} onInput={server.set} error={s.errorFor('server')} />
      </Form>
      <div class="title-row">
        <h2>IP configurations</h2>
        {!adding && (
          <button type="button" onClick={() => setAdding(true)}>
            Add IP configuration
          </button>
        )}
      </div>
      {adding && <IpConfigForm session={session} nic={doc} onDone={() => setAdding(false)} />}
      <Table testid="ipconfigs" heads={['Name', 'Address', 'Method', 'Subnet', 'ACL', 'Configuration', '']}>
        {children(doc, 'ipConfigurations').map((c) => (
          <tr key={c.resourceId}>
            <th scope="row">{c.resourceId}</th>
            <td>{String(c.properties.privateIPAddress ?? '')}</td>
            <td>{String(c.properties.privateIPAllocationMethod ?? '')}</td>
            <td>{refOf(c.properties.subnet) ?? ''}</td>
            <td>{lastId(refOf(c.properties.accessControlList)) || '—'}</td>
            <td>
              <StateBadge state={session.live.reportOf(c.resourceRef, c.properties)} />
            </td>
            <td>
              <DeleteButton what={`IP configuration ${c.resourceId}`} onDelete={() => session.api.del(pathOf('networkInterfaces', doc.resourceId, 'ipConfigurations', c.resourceId)).then(() => undefined)} />
            </td>
          </tr>
        ))}
      </Table>
    </>
  );
}

/** A new address of a NIC: from a subnet, the next free one or a chosen one, with an optional ACL. */
function IpConfigForm(props: { session: Session; nic: Doc; onDone: () => void }) {
  const { session, nic } = props;
  const subnets = subnetOptions(session);
  const [v, set] = useState({ resourceId: '', subnet: subnets[0]?.[0] ?? '', privateIPAddress: '', acl: '' });
  const s = useSubmit(['resourceId', 'subnet', 'privateIPAddress', 'accessControlList']);
  const acls: [string, string][] = [['', '(none)'], ...session.live.docs('accessControlLists').map((a): [string, string] => [a.resourceRef, a.resourceId])];
  const submit = () =>
    s.run(async () => {
      const ip = v.privateIPAddress ? { privateIPAddress: v.privateIPAddress, privateIPAllocationMethod: 'Static' } : { privateIPAllocationMethod: 'Dynamic' };
      const properties = { ...ip, subnet: { resourceRef: v.subnet }, ...(v.acl ? { accessControlList: { resourceRef: v.acl } } : {}) };
      await session.api.put(pathOf('networkInterfaces', nic.resourceId, 'ipConfigurations', v.resourceId), { properties });
      props.onDone();
    });
  return (
    <Form title="New IP configuration" submit="Add IP configuration" busy={s.busy} error={s.error} onSubmit={submit} onCancel={props.onDone}>
      <Field label="IP configuration name" name="resourceId" value={v.resourceId} autoFocus onInput={(x) => set({ ...v, resourceId: x })} error={s.errorFor('resourceId')} />
      <Select label="Subnet" name="subnet" value={v.subnet} options={subnets} onInput={(x) => set({ ...v, subnet: x })} error={s.errorFor('subnet')} />
      <Field label="Static IP (empty: the next free one)" name="privateIPAddress" value={v.privateIPAddress} onInput={(x) => set({ ...v, privateIPAddress: x })} error={s.errorFor('privateIPAddress')} />
      <Select label="Access control list" name="accessControlList" value={v.acl} options={acls} onInput={(x) => set({ ...v, acl: x })} error={s.errorFor('accessControlList')} />
    </Form>
  );
}
