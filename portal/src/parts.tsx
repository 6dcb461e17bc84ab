/**
 * The pieces every resource page shares: collection titles, reading references and child lists out
 * of a document, a table, a delete button that asks first, and the head of a resource page.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { pathOf, type Doc } from './api.js';
import { StateBadge, useAutoFocus, useSubmit } from './forms.js';
import type { Session } from './main.js';

const TITLES: Record<string, string> = {
  virtualNetworks: 'Virtual networks',
  accessControlLists: 'Access control lists',
  networkInterfaces: 'Network interfaces',
  loadBalancers: 'Load balancers',
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

export const refOf = (v: unknown): string | undefined => (v as Ref)?.resourceRef;

export const lastId = (ref: string | undefined): string => (ref ? ref.split('/').at(-1)! : '');

export const children = (d: Doc | undefined, name: string): Doc[] => ((d?.properties[name] ?? []) as Doc[]).filter((x) => x && typeof x === 'object');

export const list = (v: string): string[] =>
  v
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);

/** A scrollable table with a header row ('' heads a column of buttons, named for screen readers). */
export function Table(props: { testid: string; heads: string[]; children: ComponentChildren }) {
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

/** The properties each specific page shows; any other is shown raw. */
export const KNOWN_FIELDS: Record<string, string[]> = {
  virtualNetworks: ['addressSpace', 'subnets'],
  networkInterfaces: ['ipConfigurations', 'privateMacAddress', 'privateMacAllocationMethod', 'server'],
  accessControlLists: ['aclRules'],
  loadBalancers: ['frontendIPConfigurations', 'backendAddressPools', 'loadBalancingRules', 'probes', 'inboundNatRules'],
};

/** The properties of a child the page's table has no column for, as compact JSON (never hidden). */
export function OtherCell(props: { props: Record<string, unknown>; known: readonly string[] }) {
  const rest = Object.entries(props.props).filter(([k]) => !props.known.includes(k) && k !== 'provisioningState' && k !== 'configurationState');
  return rest.length ? <code class="other" data-testid="other">{JSON.stringify(Object.fromEntries(rest))}</code> : <>—</>;
}
