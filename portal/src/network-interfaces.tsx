/**
 * Network interfaces: the create form (a first address from a subnet, a server), placement, and the
 * IP configurations (added and deleted at their own URLs) with each one's reported state.
 */
import { useState } from 'preact/hooks';
import { pathOf, type Doc } from './api.js';
import { Field, Form, Select, StateBadge, useDraft, useSubmit } from './forms.js';
import type { Session } from './main.js';
import { children, DeleteButton, lastId, OtherCell, refOf, Table } from './parts.js';

/** Every subnet the token can see, as [resourceRef, "vnet / subnet (prefix)"]. */
export const subnetOptions = (s: Session): [string, string][] =>
  s.live.docs('virtualNetworks').flatMap((vn) => children(vn, 'subnets').map((sn): [string, string] => [sn.resourceRef, `${vn.resourceId} / ${sn.resourceId} (${String(sn.properties.addressPrefix)})`]));

export function NicCreate(props: { session: Session; onDone: () => void }) {
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

export function NicBody(props: { session: Session; doc: Doc }) {
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
      <Table testid="ipconfigs" heads={['Name', 'Address', 'Method', 'Subnet', 'ACL', 'Other', 'Configuration', '']}>
        {children(doc, 'ipConfigurations').map((c) => (
          <tr key={c.resourceId}>
            <th scope="row">{c.resourceId}</th>
            <td>{String(c.properties.privateIPAddress ?? '')}</td>
            <td>{String(c.properties.privateIPAllocationMethod ?? '')}</td>
            <td>{refOf(c.properties.subnet) ?? ''}</td>
            <td>{lastId(refOf(c.properties.accessControlList)) || '—'}</td>
            <td>
              <OtherCell props={c.properties} known={['privateIPAddress', 'privateIPAllocationMethod', 'subnet', 'accessControlList']} />
            </td>
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
