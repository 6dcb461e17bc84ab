/**
 * Form pieces shared by every editor: a labelled field that shows the API's error for it (the API's
 * message names the field by a JSON pointer; fieldOf maps it to the field's name), a form-level error
 * for what no field claims, raw JSON of what the portal does not know, and the configurationState
 * badge. Validation is the API's: the portal sends, and shows what the API says.
 */
import type { ComponentChildren } from 'preact';
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError, fieldOf, pointerOf } from './api.js';

/** An API error and the field it concerns (undefined: the form's own). */
export interface FormError {
  field?: string;
  message: string;
}

export function formErrorOf(e: unknown, fields: readonly string[]): FormError {
  if (!(e instanceof ApiError)) return { message: String(e) };
  const p = pointerOf(e.message);
  const f = p && fieldOf(p.pointer);
  return f && fields.includes(f) ? { field: f, message: e.message } : { message: e.message };
}

/** A submit handler's busy flag and error, with the error mapped to one of `fields`. */
export function useSubmit(fields: readonly string[]) {
  const [error, setError] = useState<FormError | undefined>();
  const [busy, setBusy] = useState(false);
  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (e) {
      setError(formErrorOf(e, fields));
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, run, errorFor: (f: string) => (error?.field === f ? error.message : undefined) };
}

/**
 * A ref that takes the focus when the element appears (HTML's autofocus works only once per page
 * load): a form that opens puts the keyboard in its first field, a confirm on its button.
 */
export function useAutoFocus<T extends HTMLElement>(on: boolean | undefined) {
  const ref = useRef<T>(null);
  // before the next paint: keys typed right after the click land in the field
  useLayoutEffect(() => {
    if (on) ref.current?.focus();
  }, []);
  return ref;
}

/**
 * A field's text while it is edited, over the resource's live value. Untouched, it follows the live
 * value (a change through the API shows); once typed in, it keeps the typed text and the etag it was
 * started from, so saving over someone else's change meanwhile is the API's 412, not a silent overwrite.
 */
export function useDraft(current: string, etag: string | undefined) {
  const [draft, setDraft] = useState<{ text: string; etag: string | undefined } | undefined>(undefined);
  return {
    value: draft ? draft.text : current,
    etag: draft ? draft.etag : etag,
    set: (text: string) => setDraft({ text, etag: draft ? draft.etag : etag }),
    /** after a save: follow the live value again */
    done: () => setDraft(undefined),
  };
}

let uid = 0;
const nextId = () => `f${++uid}`;

export function Field(props: {
  label: string;
  name: string;
  value: string;
  onInput: (v: string) => void;
  error?: string | undefined;
  hint?: string;
  placeholder?: string;
  required?: boolean;
  autoFocus?: boolean;
}) {
  const [id] = useState(nextId);
  const ref = useAutoFocus<HTMLInputElement>(props.autoFocus);
  return (
    <div class={`field${props.error ? ' invalid' : ''}`}>
      <label for={id}>{props.label}</label>
      <input
        ref={ref}
        id={id}
        name={props.name}
        value={props.value}
        placeholder={props.placeholder}
        required={props.required}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={props.error ? `${id}-err` : props.hint ? `${id}-hint` : undefined}
        onInput={(e) => props.onInput((e.currentTarget as HTMLInputElement).value)}
      />
      {props.hint && !props.error && (
        <small id={`${id}-hint`} class="hint">
          {props.hint}
        </small>
      )}
      {props.error && (
        <p id={`${id}-err`} class="field-error" role="alert" data-field={props.name}>
          {props.error}
        </p>
      )}
    </div>
  );
}

export function Select(props: { label: string; name: string; value: string; options: readonly (string | [string, string])[]; onInput: (v: string) => void; error?: string | undefined }) {
  const [id] = useState(nextId);
  return (
    <div class={`field${props.error ? ' invalid' : ''}`}>
      <label for={id}>{props.label}</label>
      <select id={id} name={props.name} value={props.value} aria-invalid={props.error ? 'true' : undefined} onChange={(e) => props.onInput((e.currentTarget as HTMLSelectElement).value)}>
        {props.options.map((o) => {
          const [v, text] = typeof o === 'string' ? [o, o] : o;
          return (
            <option key={v} value={v}>
              {text}
            </option>
          );
        })}
      </select>
      {props.error && (
        <p class="field-error" role="alert" data-field={props.name}>
          {props.error}
        </p>
      )}
    </div>
  );
}

/** The error no field claims, at the top of the form. */
export function FormAlert(props: { error?: FormError | undefined }) {
  if (!props.error || props.error.field) return null;
  return (
    <p class="form-error" role="alert">
      {props.error.message}
    </p>
  );
}

export function Form(props: { title: string; onSubmit: () => void; children: ComponentChildren; submit: string; busy: boolean; onCancel?: () => void; error?: FormError | undefined }) {
  return (
    <form
      class="card form"
      aria-label={props.title}
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        props.onSubmit();
      }}
    >
      <h3>{props.title}</h3>
      <FormAlert error={props.error} />
      {props.children}
      <div class="actions">
        <button type="submit" class="primary" disabled={props.busy}>
          {props.submit}
        </button>
        {props.onCancel && (
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

/** JSON as text (Preact escapes it): for what the portal has no view of. */
export function RawJson(props: { value: unknown; label?: string; open?: boolean }) {
  return (
    <details class="raw" open={props.open}>
      <summary>{props.label ?? 'Raw JSON'}</summary>
      <pre>{JSON.stringify(props.value, null, 2)}</pre>
    </details>
  );
}

/** The properties the portal has no view of, shown raw so that nothing the API says is hidden. */
export function UnknownFields(props: { props: Record<string, unknown>; known: readonly string[] }) {
  const rest = Object.fromEntries(Object.entries(props.props).filter(([k]) => !props.known.includes(k) && k !== 'provisioningState' && k !== 'configurationState'));
  if (!Object.keys(rest).length) return null;
  return (
    <div class="unknown" data-testid="unknown-fields">
      <h4>Other fields</h4>
      <pre>{JSON.stringify(rest, null, 2)}</pre>
    </div>
  );
}

/**
 * A configurationState as a badge: its status, with the details on hover and in text for screen
 * readers; a state aggregated over hosts (a NIC's, an ACL's) lists each host's own status after it.
 */
export function StateBadge(props: { state: unknown }) {
  const s = props.state as { status?: unknown; detailedInfo?: { message?: string }[]; hosts?: Record<string, { status?: unknown }> } | undefined | null;
  if (!s) return <span class="badge none">not reported</span>;
  const status = typeof s.status === 'string' ? s.status : 'reported';
  const detail = Array.isArray(s.detailedInfo) ? s.detailedInfo.map((d) => d?.message).filter(Boolean).join('; ') : '';
  const hosts = s.hosts && typeof s.hosts === 'object' ? Object.entries(s.hosts) : [];
  return (
    <span class="state">
      <span class={`badge ${tone(status)}`} title={detail || undefined} data-testid="config-state">
        {status}
        {detail && <span class="sr-only"> ({detail})</span>}
      </span>
      {hosts.length > 0 && (
        <span class="hosts" data-testid="host-states">
          {hosts.map(([host, r]) => (
            <span key={host} class={`host ${tone(String(r?.status ?? ''))}`}>
              {host}: {String(r?.status ?? '?')}
            </span>
          ))}
        </span>
      )}
    </span>
  );
}

/** The colour of a status: ok, bad or in between. */
export const tone = (status: string): string => (/^(success|succeeded)$/i.test(status) ? 'ok' : /fail|error/i.test(status) ? 'bad' : 'warn');
