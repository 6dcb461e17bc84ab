/**
 * Load balancers: a create form for the common case (one VIP from a subnet, one pool of NIC
 * addresses, one rule with an optional TCP probe), and a page that shows frontends, pools, rules,
 * probes and NAT rules as tables. Anything beyond that is edited as JSON on the resource page, and
 * every field this page does not show stays visible there.
 */
import { useState } from 'preact/hooks';
import { pathOf, type Doc } from './api.js';
import { Field, Form, Select, StateBadge, useSubmit } from './forms.js';
import type { Session } from './main.js';
import { subnetOptions } from './network-interfaces.js';
import { children, lastId, refOf, Table } from './parts.js';

const LB_FIELDS = ['resourceId', 'subnet', 'privateIPAddress', 'backendIPConfigurations', 'protocol', 'frontendPort', 'backendPort', 'port'];

/** A number typed as digits; anything else is sent as typed, for the API to say what is wrong with it. */
const numberOr = (v: string): number | string => (/^\d+$/.test(v) ? Number(v) : v);

export function LbCreate(props: { session: Session; onDone: () => void }) {
  const { session } = props;
  const subnets = subnetOptions(session);
  const backends = session.live.docs('networkInterfaces').flatMap((n) => children(n, 'ipConfigurations').map((c): [string, string] => [c.resourceRef, `${n.resourceId} / ${c.resourceId} (${String(c.properties.privateIPAddress ?? '')})`]));
  const [v, set] = useState({ resourceId: '', subnet: subnets[0]?.[0] ?? '', privateIPAddress: '', protocol: 'TCP', frontendPort: '80', backendPort: '80', probePort: '' });
  const [members, setMembers] = useState<string[]>([]);
  const s = useSubmit(LB_FIELDS);
  const submit = () =>
    s.run(async () => {
      const own = (child: string, id: string) => ({ resourceRef: `/loadBalancers/${v.resourceId}/${child}/${id}` });
      const vip = v.privateIPAddress ? { privateIPAddress: v.privateIPAddress, privateIPAllocationMethod: 'Static' } : {};
      await session.api.put(pathOf('loadBalancers', v.resourceId), {
        properties: {
          frontendIPConfigurations: [{ resourceId: 'frontend', properties: { subnet: { resourceRef: v.subnet }, ...vip } }],
          backendAddressPools: [{ resourceId: 'pool', properties: { backendIPConfigurations: members.map((resourceRef) => ({ resourceRef })) } }],
          ...(v.probePort ? { probes: [{ resourceId: 'probe', properties: { protocol: 'TCP', port: numberOr(v.probePort) } }] } : {}),
          loadBalancingRules: [
            {
              resourceId: 'rule',
              properties: {
                frontendIPConfigurations: [own('frontendIPConfigurations', 'frontend')],
                backendAddressPool: own('backendAddressPools', 'pool'),
                protocol: v.protocol,
                frontendPort: numberOr(v.frontendPort),
                backendPort: numberOr(v.backendPort),
                ...(v.probePort ? { probe: own('probes', 'probe') } : {}),
              },
            },
          ],
        },
      });
      props.onDone();
      location.hash = `#/c/loadBalancers/${encodeURIComponent(v.resourceId)}`;
    });
  const field = (k: keyof typeof v, label: string, extra: { hint?: string; autoFocus?: boolean; error?: string | undefined } = {}) => (
    <Field label={label} name={k} value={v[k]} onInput={(x) => set({ ...v, [k]: x })} error={extra.error ?? s.errorFor(k)} {...(extra.hint ? { hint: extra.hint } : {})} autoFocus={extra.autoFocus ?? false} />
  );
  return (
    <Form title="New load balancer" submit="Create" busy={s.busy} error={s.error} onSubmit={submit} onCancel={props.onDone}>
      <div class="grid">
        {field('resourceId', 'Name (resourceId)', { autoFocus: true })}
        <Select label="VIP subnet" name="subnet" value={v.subnet} options={subnets} onInput={(x) => set({ ...v, subnet: x })} error={s.errorFor('subnet')} />
        {field('privateIPAddress', 'VIP (empty: the next free one)')}
        <Select label="Protocol" name="protocol" value={v.protocol} options={['TCP', 'UDP']} onInput={(x) => set({ ...v, protocol: x })} error={s.errorFor('protocol')} />
        {field('frontendPort', 'Frontend port')}
        {field('backendPort', 'Backend port')}
        {field('probePort', 'TCP probe port (optional)', { error: s.errorFor('port') })}
      </div>
      <fieldset class={`field members${s.errorFor('backendIPConfigurations') ? ' invalid' : ''}`}>
        <legend>Backends</legend>
        {backends.length === 0 && <p class="hint">No network interfaces yet.</p>}
        {backends.map(([ref, label]) => (
          <label key={ref} class="check">
            <input type="checkbox" name="backendIPConfigurations" value={ref} checked={members.includes(ref)} onChange={(e) => setMembers((e.currentTarget as HTMLInputElement).checked ? [...members, ref] : members.filter((m) => m !== ref))} />
            {label}
          </label>
        ))}
        {s.errorFor('backendIPConfigurations') && (
          <p class="field-error" role="alert" data-field="backendIPConfigurations">
            {s.errorFor('backendIPConfigurations')}
          </p>
        )}
      </fieldset>
    </Form>
  );
}

const refs = (v: unknown): string[] => ((v ?? []) as { resourceRef?: string }[]).map((r) => r.resourceRef ?? '');
const port = (v: unknown) => (v === undefined ? '' : String(v));

export function LbBody(props: { session: Session; doc: Doc }) {
  const { session, doc } = props;
  const rules = children(doc, 'loadBalancingRules');
  const nat = children(doc, 'inboundNatRules');
  return (
    <>
      <h2>Frontends</h2>
      <Table testid="lb-frontends" heads={['Name', 'VIP', 'Subnet or public IP', 'State']}>
        {children(doc, 'frontendIPConfigurations').map((f) => (
          <tr key={f.resourceId}>
            <th scope="row">{f.resourceId}</th>
            <td>{String(f.properties.privateIPAddress ?? '')}</td>
            <td>{refOf(f.properties.subnet) ?? refOf(f.properties.publicIPAddress) ?? ''}</td>
            <td>
              <StateBadge state={session.live.reportOf(f.resourceRef, f.properties)} />
            </td>
          </tr>
        ))}
      </Table>
      <h2>Backend pools</h2>
      <Table testid="lb-pools" heads={['Name', 'Backends']}>
        {children(doc, 'backendAddressPools').map((p) => (
          <tr key={p.resourceId}>
            <th scope="row">{p.resourceId}</th>
            <td>{refs(p.properties.backendIPConfigurations).map((r) => r.split('/').slice(2).filter((_, i) => i !== 1).join(' / ')).join(', ') || '—'}</td>
          </tr>
        ))}
      </Table>
      <h2>Rules</h2>
      <Table testid="lb-rules" heads={['Name', 'Kind', 'Protocol', 'Frontend port', 'Backend', 'Probe']}>
        {rules.map((r) => (
          <tr key={r.resourceId}>
            <th scope="row">{r.resourceId}</th>
            <td>balancing</td>
            <td>{String(r.properties.protocol ?? '')}</td>
            <td>{port(r.properties.frontendPort)}</td>
            <td>
              {lastId(refOf(r.properties.backendAddressPool))}:{port(r.properties.backendPort ?? r.properties.frontendPort)}
            </td>
            <td>{lastId(refOf(r.properties.probe)) || '—'}</td>
          </tr>
        ))}
        {nat.map((r) => (
          <tr key={r.resourceId}>
            <th scope="row">{r.resourceId}</th>
            <td>inbound NAT</td>
            <td>{String(r.properties.protocol ?? '')}</td>
            <td>{port(r.properties.frontendPort)}</td>
            <td>
              {refOf(r.properties.backendIPConfiguration) ?? ''}:{port(r.properties.backendPort ?? r.properties.frontendPort)}
            </td>
            <td>—</td>
          </tr>
        ))}
      </Table>
      <h2>Probes</h2>
      <Table testid="lb-probes" heads={['Name', 'Protocol', 'Port', 'Path']}>
        {children(doc, 'probes').map((p) => (
          <tr key={p.resourceId}>
            <th scope="row">{p.resourceId}</th>
            <td>{String(p.properties.protocol ?? '')}</td>
            <td>{port(p.properties.port)}</td>
            <td>{String(p.properties.requestPath ?? '—')}</td>
          </tr>
        ))}
      </Table>
    </>
  );
}
