/**
 * A collection's list and a resource's page: the kinds with views of their own (virtual-networks.tsx,
 * network-interfaces.tsx, acl.tsx) get their forms and bodies, every other collection is shown
 * generically (a table, its JSON, a JSON editor), so a collection or field the portal does not know
 * yet still shows. Writes go to the API with the etag the edit started from (If-Match); the page
 * changes when the watch brings the change, not before.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { pathOf, type Doc } from './api.js';
import { AclCreate } from './acl.js';
import { Field, Form, RawJson, StateBadge, UnknownFields, useSubmit } from './forms.js';
import type { Session } from './main.js';
import { LbBody, LbCreate } from './load-balancers.js';
import { NicBody, NicCreate } from './network-interfaces.js';
import { children, KNOWN_FIELDS, lastId, refOf, ResourceHeader, Table, titleOf } from './parts.js';
import { VnetBody, VnetCreate } from './virtual-networks.js';

interface Heartbeat {
  hostdVersion?: string;
  supportedModes?: string[];
  providerAddresses?: string[];
  lastHeartbeat?: string;
}
const heartbeat = (s: Session, d: Doc): Heartbeat => (s.live.reportOf(d.resourceRef, d.properties) as Heartbeat | null | undefined) ?? {};

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
    // what the host's agent says in its heartbeat (southbound PUT …/heartbeat), shown as the server's configurationState
    { title: 'Version', cell: (d, s) => heartbeat(s, d).hostdVersion ?? '—' },
    { title: 'Modes', cell: (d, s) => (heartbeat(s, d).supportedModes ?? []).join(', ') || '—' },
    { title: 'Provider addresses', cell: (d, s) => (heartbeat(s, d).providerAddresses ?? []).join(', ') || '—' },
    { title: 'Last heartbeat', cell: (d, s) => heartbeat(s, d).lastHeartbeat ?? '—' },
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
  if (collection === 'loadBalancers') return <LbCreate {...props} />;
  return <JsonEditor {...props} title={`New ${titleOf(collection).replace(/s$/, '').toLowerCase()}`} />;
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
      {collection === 'loadBalancers' && <LbBody session={session} doc={doc} />}
      {(!known || collection === 'loadBalancers') &&
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
