/**
 * Virtual networks: the create form (address space and a first subnet), the address space editor,
 * and the subnets with their ACL, each added, edited and deleted at its own URL.
 */
import { useState } from 'preact/hooks';
import { pathOf, type Doc } from './api.js';
import { Field, Form, Select, StateBadge, useDraft, useSubmit } from './forms.js';
import type { Session } from './main.js';
import { children, DeleteButton, lastId, list, OtherCell, refOf, Table } from './parts.js';

export function VnetCreate(props: { session: Session; onDone: () => void }) {
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

export function VnetBody(props: { session: Session; doc: Doc }) {
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
      <Table testid="subnets" heads={['Subnet', 'Prefix', 'VSID', 'ACL', 'IP configurations', 'Other', 'Configuration', '']}>
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
        <td>{String(subnet.properties.vsid ?? '—')}</td>
        <td>{acl ? <a href={`#/c/accessControlLists/${encodeURIComponent(lastId(acl))}`}>{lastId(acl)}</a> : '—'}</td>
        <td>{ipcs.map((r) => r.resourceRef.split('/')[2]).join(', ') || '—'}</td>
        <td>
          <OtherCell props={subnet.properties} known={['addressPrefix', 'vsid', 'accessControlList', 'ipConfigurations']} />
        </td>
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
          <td colSpan={8}>
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
