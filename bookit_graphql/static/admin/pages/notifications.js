// Notifications: every email BookIt sent or will send (everyone's, for an admin), newest first.
import { useEffect, useState } from "../../vendor/htm-preact/standalone.module.js";
import { request } from "../api.js";
import { MY_NOTIFICATIONS } from "../operations.js";
import { registerPage } from "../registry.js";
import { Empty, ErrorNote, html, Loading, when } from "../ui.js";

const STEP = 25;
// The contract's MyNotifications selects no cursors, so "more" asks again for a longer
// first page, up to the API's limit of 100 a page.
const MOST = 100;

const KINDS = {
  BOOKING_RECEIVED: "Booking received",
  BOOKING_CONFIRMED: "Booking confirmed",
  BOOKING_RESCHEDULED: "Booking rescheduled",
  BOOKING_CANCELLED: "Booking cancelled",
  REMINDER: "Reminder",
};

function useNotifications(first, reloads) {
  const [state, setState] = useState({ nodes: [], total: 0, loading: true, error: null });
  useEffect(() => {
    let current = true;
    setState((old) => ({ ...old, loading: true, error: null }));
    request(MY_NOTIFICATIONS, { first, after: null })
      .then((data) => {
        if (!current) return;
        const { totalCount, edges } = data.notifications;
        setState({ nodes: edges.map((e) => e.node), total: totalCount, loading: false, error: null });
      })
      .catch((error) => current && setState((old) => ({ ...old, loading: false, error })));
    return () => {
      current = false;
    };
  }, [first, reloads]);
  return state;
}

function NotificationRow({ n }) {
  const status = n.status.toLowerCase();
  return html`<li class="card row notification" data-notification=${n.id}>
    <div class="grow">
      <h2 class="item-title">${KINDS[n.kind] || n.kind} <span class=${`badge ${status}`}>${status}</span></h2>
      <p class="meta">${n.channel.toLowerCase()} · booking <code>${n.bookingId}</code></p>
      <p class="meta">created ${when(n.createdAt)}${n.sentAt ? ` · sent ${when(n.sentAt)}` : ""}</p>
    </div>
  </li>`;
}

function NotificationsPage() {
  const [first, setFirst] = useState(STEP);
  const [reloads, setReloads] = useState(0);
  const list = useNotifications(first, reloads);
  const shown = list.nodes.length;
  return html`<section>
    <div class="toolbar">
      <button type="button" class="secondary" onClick=${() => setReloads((r) => r + 1)} disabled=${list.loading}>
        Refresh notifications</button>
    </div>
    <${ErrorNote} error=${list.error} action="load the notifications" />
    ${!list.loading && !list.error && html`<p class="meta">${list.total} ${list.total === 1 ? "notification" : "notifications"}${shown < list.total ? `, the newest ${shown} shown` : ""}</p>`}
    ${shown > 0 && html`<ul class="list">${list.nodes.map((n) => html`<${NotificationRow} key=${n.id} n=${n} />`)}</ul>`}
    ${list.loading && html`<${Loading} what="Loading notifications" />`}
    ${!list.loading && !list.error && shown === 0 && html`<${Empty}>No notifications yet.</${Empty}>`}
    ${!list.error && shown < list.total && first < MOST &&
      html`<button type="button" class="secondary" onClick=${() => setFirst(Math.min(first + STEP, MOST))}
        disabled=${list.loading}>More notifications</button>`}
  </section>`;
}

registerPage({ id: "notifications", title: "Notifications", order: 70, component: NotificationsPage });
