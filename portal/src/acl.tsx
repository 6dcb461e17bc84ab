/**
 * The ACL editor: rules per direction in priority order (the order a host evaluates them), each
 * editable with the API's error shown at its field; Move up/down swaps a rule's priority with its
 * neighbour's and writes the whole list in one PUT (If-Match: nobody else's change is overwritten);
 * and the effective default of each direction. The default follows the host's data plane
 * (src/model/acl.ts aclDefault): once a list has any rule, a flow no rule decides is blocked, in
 * both directions; a list without rules lets everything through.
 */
import { useState } from 'preact/hooks';
import { pathOf, type Doc } from './api.js';
import { Field, Form, RawJson, Select, StateBadge, UnknownFields, useSubmit } from './forms.js';
import type { Session } from './main.js';
import { children, DeleteButton, KNOWN_FIELDS, ResourceHeader, titleOf } from './parts.js';

const DIRECTIONS = ['Inbound', 'Outbound'] as const;
const RULE_FIELDS = ['resourceId', 'priority', 'action', 'protocol', 'sourceAddressPrefix', 'sourcePortRange', 'destinationAddressPrefix', 'destinationPortRange', 'description', 'logging', 'type'];

export const byPriority = (rules: Doc[], type: string): Doc[] =>
  rules.filter((r) => r.properties.type === type).sort((a, b) => Number(a.properties.priority) - Number(b.properties.priority));

export function AclDetail(props: { session: Session; id: string }) {
  const { session, id } = props;
  const doc = session.live.doc('accessControlLists', id);
  if (!doc)
    return (
      <section>
        <h1>{titleOf('accessControlLists')}</h1>
        <p role="status">
          There is no access control list "{id}" (or it was deleted). <a href="#/c/accessControlLists">Back to the list</a>
        </p>
      </section>
    );
  return <AclEditor session={session} doc={doc} />;
}

function AclEditor(props: { session: Session; doc: Doc }) {
  const { session, doc } = props;
  const rules = children(doc, 'aclRules');
  const [adding, setAdding] = useState<string | undefined>();
  const move = useSubmit([]);
  const fallback = rules.length ? 'Deny' : 'Allow';

  /** Swaps the priorities of the rule at `i` of `type` and its neighbour at `i + by`, in one PUT of the list. */
  const reorder = (type: string, i: number, by: -1 | 1) =>
    move.run(async () => {
      const ordered = byPriority(rules, type);
      const a = ordered[i]!;
      const b = ordered[i + by]!;
      const prio = new Map([
        [a.resourceId, b.properties.priority],
        [b.resourceId, a.properties.priority],
      ]);
      const aclRules = rules.map((r) => (prio.has(r.resourceId) ? { ...r, properties: { ...r.properties, priority: prio.get(r.resourceId) } } : r));
      await session.api.put(pathOf('accessControlLists', doc.resourceId), { tags: doc.tags, properties: { ...doc.properties, aclRules } }, doc.etag);
    });

  return (
    <section>
      <ResourceHeader session={session} collection="accessControlLists" doc={doc} showTenant={session.role === 'admin'} />
      {move.error && (
        <p class="form-error" role="alert">
          {move.error.message}
        </p>
      )}
      {DIRECTIONS.map((type) => {
        const ordered = byPriority(rules, type);
        return (
          <div class="direction" key={type} data-testid={`rules-${type}`}>
            <div class="title-row">
              <h2>{type} rules</h2>
              {adding !== type && (
                <button type="button" onClick={() => setAdding(type)}>
                  Add {type.toLowerCase()} rule
                </button>
              )}
            </div>
            {adding === type && <RuleForm session={session} acl={doc} type={type} onDone={() => setAdding(undefined)} />}
            <ol class="rules">
              {ordered.map((r, i) => (
                <RuleRow key={r.resourceId} session={session} acl={doc} rule={r} first={i === 0} last={i === ordered.length - 1} busy={move.busy} onMove={(by) => void reorder(type, i, by)} />
              ))}
              <li class="rule default" data-testid={`default-${type}`}>
                <span class="prio">default</span>
                <span class={`action ${fallback.toLowerCase()}`}>{fallback}</span>
                <span class="match">
                  {rules.length ? 'what no rule decides is blocked (a list with rules blocks by default, both directions)' : 'no rules: everything passes'}
                </span>
              </li>
            </ol>
          </div>
        );
      })}
      <UnknownFields props={doc.properties} known={KNOWN_FIELDS.accessControlLists!} />
      <RawJson value={doc} label="The whole document (JSON)" />
    </section>
  );
}

const endpoint = (prefix: unknown, port: unknown) => `${String(prefix ?? '*')}${port !== undefined && port !== '*' ? `:${String(port)}` : ''}`;

function RuleRow(props: { session: Session; acl: Doc; rule: Doc; first: boolean; last: boolean; busy: boolean; onMove: (by: -1 | 1) => void }) {
  const { session, acl, rule } = props;
  const p = rule.properties;
  const [editing, setEditing] = useState(false);
  return (
    <li class="rule" data-id={rule.resourceId} data-priority={String(p.priority)}>
      <span class="prio">{String(p.priority)}</span>
      <span class={`action ${String(p.action).toLowerCase()}`}>{String(p.action)}</span>
      <span class="match">
        <strong>{rule.resourceId}</strong> {String(p.protocol)} from {endpoint(p.sourceAddressPrefix, p.sourcePortRange)} to {endpoint(p.destinationAddressPrefix, p.destinationPortRange)}
        {p.description ? ` — ${String(p.description)}` : ''}
      </span>
      <StateBadge state={session.live.reportOf(rule.resourceRef, p)} />
      <span class="row-actions">
        <button type="button" disabled={props.first || props.busy} onClick={() => props.onMove(-1)}>
          Move up <span class="sr-only">{rule.resourceId}</span>
        </button>
        <button type="button" disabled={props.last || props.busy} onClick={() => props.onMove(1)}>
          Move down <span class="sr-only">{rule.resourceId}</span>
        </button>
        <button type="button" aria-expanded={editing} onClick={() => setEditing(!editing)}>
          Edit <span class="sr-only">{rule.resourceId}</span>
        </button>
        <DeleteButton what={`rule ${rule.resourceId}`} onDelete={() => session.api.del(pathOf('accessControlLists', acl.resourceId, 'aclRules', rule.resourceId)).then(() => undefined)} />
      </span>
      <UnknownFields props={p} known={RULE_FIELDS} />
      {editing && <RuleForm session={session} acl={acl} rule={rule} type={String(p.type)} onDone={() => setEditing(false)} />}
    </li>
  );
}

function RuleForm(props: { session: Session; acl: Doc; rule?: Doc; type: string; onDone: () => void }) {
  const { session, acl, rule } = props;
  const p = rule?.properties ?? {};
  const highest = Math.max(0, ...byPriority(children(acl, 'aclRules'), props.type).map((r) => Number(r.properties.priority)));
  const str = (k: string, d: string) => (p[k] === undefined ? d : String(p[k]));
  const [v, set] = useState({
    resourceId: rule?.resourceId ?? '',
    priority: str('priority', String(highest + 100 > 65500 ? highest + 1 : highest + 100)),
    action: str('action', 'Allow'),
    protocol: str('protocol', 'TCP'),
    sourceAddressPrefix: str('sourceAddressPrefix', '*'),
    sourcePortRange: str('sourcePortRange', '*'),
    destinationAddressPrefix: str('destinationAddressPrefix', '*'),
    destinationPortRange: str('destinationPortRange', '*'),
    description: str('description', ''),
  });
  const s = useSubmit(RULE_FIELDS);
  const field = (k: keyof typeof v, label: string, extra: { hint?: string; autoFocus?: boolean } = {}) => (
    <Field label={label} name={k} value={v[k]} onInput={(x) => set({ ...v, [k]: x })} error={s.errorFor(k)} {...extra} />
  );
  const submit = () =>
    s.run(async () => {
      const { resourceId, priority, description, ...rest } = v;
      // a priority that is not a number is sent as typed, for the API to say what is wrong with it
      const prio = /^\d+$/.test(priority) ? Number(priority) : priority;
      const properties = { ...p, ...rest, type: props.type, priority: prio, ...(description ? { description } : {}) };
      if (!description) delete properties.description;
      await session.api.put(pathOf('accessControlLists', acl.resourceId, 'aclRules', resourceId), { properties });
      props.onDone();
    });
  return (
    <Form title={rule ? `Edit rule ${rule.resourceId}` : `New ${props.type.toLowerCase()} rule`} submit={rule ? 'Save rule' : 'Add rule'} busy={s.busy} error={s.error} onSubmit={submit} onCancel={props.onDone}>
      <div class="grid">
        {!rule && <Field label="Rule name" name="resourceId" value={v.resourceId} autoFocus onInput={(x) => set({ ...v, resourceId: x })} error={s.errorFor('resourceId')} />}
        {field('priority', 'Priority', { hint: '1-65500, lower goes first', autoFocus: !!rule })}
        <Select label="Action" name="action" value={v.action} options={['Allow', 'Deny']} onInput={(x) => set({ ...v, action: x })} error={s.errorFor('action')} />
        <Select label="Protocol" name="protocol" value={v.protocol} options={['TCP', 'UDP', 'ICMP', 'All']} onInput={(x) => set({ ...v, protocol: x })} error={s.errorFor('protocol')} />
        {field('sourceAddressPrefix', 'Source prefix', { hint: '* or an IPv4 address/prefix' })}
        {field('sourcePortRange', 'Source ports')}
        {field('destinationAddressPrefix', 'Destination prefix')}
        {field('destinationPortRange', 'Destination ports')}
        {field('description', 'Description')}
      </div>
    </Form>
  );
}

export function AclCreate(props: { session: Session; onDone: () => void }) {
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
