// Small shared pieces: error notes, loading and empty states, formats, paging.
import { html, useCallback, useEffect, useState } from "../vendor/htm-preact/standalone.module.js";
import { ApiError, request } from "./api.js";

export { html };

/** An API error in words, with its code and request id (to quote to whoever runs BookIt). */
export function ErrorNote({ error, action }) {
  if (!error) return null;
  const api = error instanceof ApiError;
  const range = error.extensions?.conflictingRange;
  return html`<div class="error" role="alert">
    <p><strong>${action ? `Could not ${action}: ` : ""}</strong>${error.message}</p>
    ${range && html`<p>The time overlaps a booking from ${when(range.startsAt)} to ${when(range.endsAt)}.</p>`}
    ${api && html`<p class="meta">${error.code ? `Code ${error.code}. ` : ""}Request id <code>${error.requestId}</code></p>`}
  </div>`;
}

export function Loading({ what = "Loading" }) {
  return html`<p class="loading" role="status">${what}…</p>`;
}

export function Empty({ children }) {
  return html`<p class="empty">${children}</p>`;
}

export function Notice({ text }) {
  return text ? html`<p class="notice" role="status">${text}</p>` : null;
}

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const TIME = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
const DAY = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });

export const when = (iso) => DATE_TIME.format(new Date(iso));
export const time = (iso) => TIME.format(new Date(iso));
export const day = (date) => DAY.format(date);

/** A <input type=datetime-local> value (local wall-clock time) as ISO 8601 with an offset. */
export function fromLocalInput(value) {
  return new Date(value).toISOString();
}

/** An ISO time as a <input type=datetime-local> value, in local time. */
export function toLocalInput(iso) {
  const date = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

export function startOfDay(date) {
  const copy = new Date(date);
  copy.setHours(0, 0, 0, 0);
  return copy;
}

export function addDays(date, days) {
  const copy = new Date(date);
  copy.setDate(copy.getDate() + days);
  return copy;
}

/** Every node of a list, following its pages (at most `limit` pages of 100). */
export async function everything(query, field, variables, limit = 20) {
  const nodes = [];
  let after = null;
  for (let page = 0; page < limit; page++) {
    const data = await request(query, { ...variables, first: 100, after });
    const connection = data[field];
    nodes.push(...connection.edges.map((edge) => edge.node));
    if (!connection.pageInfo.hasNextPage) break;
    after = connection.pageInfo.endCursor;
  }
  return nodes;
}

/** A paged list: { nodes, total, loading, error, more(), reload() }; reloads when `key` changes. */
export function usePaged(query, field, variables, key) {
  const [state, setState] = useState({ nodes: [], total: 0, loading: true, error: null, end: null });
  const load = useCallback(
    async (after) => {
      setState((old) => ({ ...old, loading: true, error: null }));
      try {
        const data = await request(query, { ...variables, first: 25, after });
        const connection = data[field];
        const fresh = connection.edges.map((edge) => edge.node);
        setState((old) => ({
          nodes: after ? [...old.nodes, ...fresh] : fresh,
          total: connection.totalCount,
          loading: false,
          error: null,
          end: connection.pageInfo.hasNextPage ? connection.pageInfo.endCursor : null,
        }));
      } catch (error) {
        setState((old) => ({ ...old, loading: false, error }));
      }
    },
    [key]
  );
  useEffect(() => {
    load(null);
  }, [key]);
  return {
    ...state,
    more: state.end ? () => load(state.end) : null,
    reload: () => load(null),
    replace: (node) =>
      setState((old) => ({ ...old, nodes: old.nodes.map((n) => (n.id === node.id ? node : n)) })),
    remove: (id) =>
      setState((old) => ({ ...old, nodes: old.nodes.filter((n) => n.id !== id), total: old.total - 1 })),
  };
}

/** Runs an action, keeping its error and a pending flag: [run, pending, error]. */
export function useAction() {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState(null);
  const run = async (action) => {
    setPending(true);
    setError(null);
    try {
      return await action();
    } catch (caught) {
      setError(caught);
      return undefined;
    } finally {
      setPending(false);
    }
  };
  return [run, pending, error, setError];
}

export function MoreButton({ list, label = "Load more" }) {
  if (!list.more) return null;
  return html`<button type="button" class="secondary" onClick=${list.more} disabled=${list.loading}>${label}</button>`;
}

/** The message of a BAD_USER_INPUT error about one of `fields` (extensions.field), else null. */
export function fieldMessage(error, ...fields) {
  if (!error || error.code !== "BAD_USER_INPUT") return null;
  return fields.includes(error.extensions?.field) ? error.message : null;
}

/** An error shown next to its field (the field points at it with aria-describedby). */
export function FieldError({ id, message }) {
  return message ? html`<p class="field-error" id=${id}>${message}</p>` : null;
}
