// Bookings: a week per service, filtered by status, with confirm / complete / cancel /
// reschedule, a form to book a slot, and live changes through bookingChanged.
import { useEffect, useState } from "../../vendor/htm-preact/standalone.module.js";
import { request } from "../api.js";
import { watchBookings } from "../live.js";
import { BOOKINGS, CREATE_BOOKING, RESCHEDULE_BOOKING, SERVICE_RULES, SET_BOOKING_STATUS } from "../operations.js";
import { registerPage } from "../registry.js";
import {
  addDays, day, Empty, ErrorNote, everything, fromLocalInput, html, Loading, Notice,
  startOfDay, time, toLocalInput, useAction,
} from "../ui.js";
import { ServicePicker, useAllServices } from "./common.js";
import { openingsOfDay } from "./hours.js";

const STATUSES = ["PENDING", "CONFIRMED", "COMPLETED", "CANCELLED"];
const NEXT = { PENDING: ["CONFIRMED"], CONFIRMED: ["COMPLETED"] };
const VERB = { CONFIRMED: "Confirm", COMPLETED: "Complete", CANCELLED: "Cancel" };

function monday(date) {
  const start = startOfDay(date);
  return addDays(start, -((start.getDay() + 6) % 7));
}

/** A day's opening hours in the service's zone: a shaded strip of the day, and in words. */
function OpeningHours({ rules, date }) {
  if (!rules) return null;
  const { segments, labels, closed, always } = openingsOfDay(rules, date);
  const words = always
    ? "Open around the clock"
    : [labels.length ? `Open ${labels.join(", ")}` : "Closed", ...closed.map((r) => `closure${r ? `: ${r}` : ""}`)].join(" · ");
  return html`<div class="opening" data-open=${labels.join(",")}>
    <div class="open-hours" aria-hidden="true">
      ${segments.map((s) => html`<span class="open" style=${{ left: `${s.from * 100}%`, width: `${(s.to - s.from) * 100}%` }}></span>`)}
    </div>
    <p class="hours-label">${words}${always ? "" : ` (${rules.timeZone})`}</p>
  </div>`;
}

function BookingCard({ booking, onChanged }) {
  const [run, pending, error] = useAction();
  const [moving, setMoving] = useState(false);
  const who = booking.user.fullName || booking.user.email;
  const setStatus = (status) =>
    run(async () => onChanged((await request(SET_BOOKING_STATUS, { id: booking.id, status })).updateBooking));
  const reschedule = (event) => {
    event.preventDefault();
    const startsAt = fromLocalInput(new FormData(event.target).get("startsAt"));
    run(async () => {
      onChanged((await request(RESCHEDULE_BOOKING, { id: booking.id, startsAt, endsAt: null })).updateBooking);
      setMoving(false);
    });
  };
  const active = booking.status === "PENDING" || booking.status === "CONFIRMED";
  return html`<li class=${`booking ${booking.status.toLowerCase()}`} data-booking=${booking.id}>
    <p><strong>${time(booking.startsAt)}–${time(booking.endsAt)}</strong>
      <span class=${`badge ${booking.status.toLowerCase()}`}>${booking.status.toLowerCase()}</span></p>
    <p class="meta">${who}</p>
    <div class="buttons">
      ${(NEXT[booking.status] || []).map(
        (status) => html`<button type="button" disabled=${pending} onClick=${() => setStatus(status)}
          aria-label=${`${VERB[status]} the booking of ${who} at ${time(booking.startsAt)}`}>${VERB[status]}</button>`
      )}
      ${active && html`<button type="button" class="secondary" disabled=${pending} onClick=${() => setMoving(!moving)}
          aria-expanded=${moving} aria-label=${`Reschedule the booking of ${who} at ${time(booking.startsAt)}`}>Reschedule</button>
        <button type="button" class="danger" disabled=${pending} onClick=${() => setStatus("CANCELLED")}
          aria-label=${`Cancel the booking of ${who} at ${time(booking.startsAt)}`}>Cancel</button>`}
    </div>
    ${moving && html`<form class="inline-form" onSubmit=${reschedule}>
      <label for=${`move-${booking.id}`}>New start</label>
      <input id=${`move-${booking.id}`} name="startsAt" type="datetime-local" required defaultValue=${toLocalInput(booking.startsAt)} />
      <button type="submit" disabled=${pending}>Move</button>
    </form>`}
    <${ErrorNote} error=${error} action="change the booking" />
  </li>`;
}

function NewBooking({ serviceId, onCreated }) {
  const [run, pending, error] = useAction();
  const submit = (event) => {
    event.preventDefault();
    const startsAt = fromLocalInput(new FormData(event.target).get("startsAt"));
    run(async () => {
      const data = await request(CREATE_BOOKING, { input: { serviceId, startsAt } });
      onCreated(data.createBooking);
      event.target.reset();
    });
  };
  return html`<form class="card inline-form" onSubmit=${submit} aria-label="New booking">
    <label for="new-booking-start">Book this service at</label>
    <input id="new-booking-start" name="startsAt" type="datetime-local" required />
    <button type="submit" disabled=${pending || !serviceId}>Book</button>
    <${ErrorNote} error=${error} action="book" />
  </form>`;
}

function BookingsPage() {
  const { services, error: servicesError } = useAllServices();
  const [serviceId, setServiceId] = useState(null);
  const [status, setStatus] = useState("");
  const [week, setWeek] = useState(monday(new Date()));
  const [state, setState] = useState({ bookings: [], loading: false, error: null });
  const [notice, setNotice] = useState("");
  const [live, setLive] = useState("connecting");
  const [rules, setRules] = useState(null);

  useEffect(() => {
    if (services && services.length && !serviceId) setServiceId(services[0].id);
  }, [services]);

  const inView = (b) =>
    b.service.id === serviceId && (!status || b.status === status) &&
    new Date(b.startsAt) >= week && new Date(b.startsAt) < addDays(week, 7);

  const load = async () => {
    if (!serviceId) return;
    setState((old) => ({ ...old, loading: true, error: null }));
    try {
      const filter = { serviceId, status: status || null, from: week.toISOString(), to: addDays(week, 7).toISOString() };
      const bookings = await everything(BOOKINGS, "bookings", { filter });
      setState({ bookings: bookings.filter(inView), loading: false, error: null });
    } catch (error) {
      setState({ bookings: [], loading: false, error });
    }
  };
  useEffect(() => { load(); }, [serviceId, status, week.getTime()]);
  useEffect(() => {
    setRules(null);
    if (!serviceId) return;
    request(SERVICE_RULES, { id: serviceId })
      .then((data) => data.service?.id === serviceId && setRules(data.service))
      .catch((error) => setState((old) => ({ ...old, error })));
  }, [serviceId]);

  // one change, from this page or from anywhere else (live)
  const merge = (booking, said) => {
    setState((old) => {
      const others = old.bookings.filter((b) => b.id !== booking.id);
      return { ...old, bookings: inView(booking) ? [...others, booking] : others };
    });
    if (said) setNotice(said);
  };

  useEffect(() => {
    if (!serviceId) return undefined;
    return watchBookings({
      serviceId,
      onConnected: () => setLive("live"),
      onClosed: () => setLive("reconnecting"),
      onError: () => setLive("offline"),
      onEvent: (change) => {
        const who = change.booking.user.fullName || change.booking.user.email;
        const kind = change.kind.toLowerCase();
        if (change.kind === "DELETED") {
          setState((old) => ({ ...old, bookings: old.bookings.filter((b) => b.id !== change.booking.id) }));
        } else merge(change.booking);
        setNotice(`Live: booking of ${who} at ${time(change.booking.startsAt)} ${kind}.`);
      },
    });
  }, [serviceId, status, week.getTime()]);

  const days = Array.from({ length: 7 }, (_, i) => addDays(week, i));
  const byDay = (date) =>
    state.bookings
      .filter((b) => startOfDay(new Date(b.startsAt)).getTime() === date.getTime())
      .sort((a, b) => a.startsAt.localeCompare(b.startsAt));
  const today = startOfDay(new Date()).getTime();

  return html`<section>
    <div class="toolbar">
      <${ServicePicker} id="booking-service" services=${services} error=${servicesError} value=${serviceId} onChange=${setServiceId} />
      <div class="field"><label for="booking-status">Status</label>
        <select id="booking-status" value=${status} onChange=${(e) => setStatus(e.target.value)}>
          <option value="">Any</option>
          ${STATUSES.map((s) => html`<option value=${s}>${s.toLowerCase()}</option>`)}
        </select></div>
      <div class="buttons" role="group" aria-label="Week">
        <button type="button" class="secondary" onClick=${() => setWeek(addDays(week, -7))}>Previous week</button>
        <button type="button" class="secondary" onClick=${() => setWeek(monday(new Date()))}>This week</button>
        <button type="button" class="secondary" onClick=${() => setWeek(addDays(week, 7))}>Next week</button>
      </div>
      <p class="meta" aria-live="polite">Week of ${day(week)} · updates ${live === "live" ? "live" : live}</p>
    </div>
    ${serviceId && html`<${NewBooking} serviceId=${serviceId}
      onCreated=${(b) => merge(b, `Booked ${time(b.startsAt)} on ${day(new Date(b.startsAt))}.`)} />`}
    <${Notice} text=${notice} />
    <${ErrorNote} error=${state.error} action="load the bookings" />
    ${services && services.length === 0 && html`<${Empty}>No services yet: create one on the Services page.</${Empty}>`}
    ${state.loading && html`<${Loading} what="Loading bookings" />`}
    ${serviceId && html`<div class="week" aria-label="Bookings of the week">
      ${days.map((date) => {
        const list = byDay(date);
        return html`<section class=${`day${date.getTime() === today ? " today" : ""}`} aria-labelledby=${`day-${date.getTime()}`}>
          <h2 id=${`day-${date.getTime()}`}>${day(date)}</h2>
          <${OpeningHours} rules=${rules} date=${date} />
          ${list.length
            ? html`<ul>${list.map((b) => html`<${BookingCard} key=${b.id} booking=${b}
                onChanged=${(changed) => merge(changed, `Booking ${changed.status.toLowerCase()}.`)} />`)}</ul>`
            : !state.loading && html`<p class="empty">No bookings</p>`}
        </section>`;
      })}
    </div>`}
  </section>`;
}

registerPage({ id: "bookings", title: "Bookings", order: 20, component: BookingsPage });
