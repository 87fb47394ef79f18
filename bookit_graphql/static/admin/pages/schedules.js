// Schedules: a service's time zone, weekly hours, closures and booking rules
// (buffers, notice, horizon, capacity), saved with setServiceRules / addClosure /
// removeClosure; a refused value is shown next to its field.
import { useEffect, useState } from "../../vendor/htm-preact/standalone.module.js";
import { request } from "../api.js";
import { ADD_CLOSURE, REMOVE_CLOSURE, SERVICE_RULES, SET_SERVICE_RULES } from "../operations.js";
import { registerPage } from "../registry.js";
import { ErrorNote, FieldError, fieldMessage, html, Loading, Notice, useAction } from "../ui.js";
import { ServicePicker, useAllServices } from "./common.js";
import { WEEKDAYS } from "./hours.js";

const ZONES = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
const TIME_PATTERN = "([01][0-9]|2[0-3]):[0-5][0-9]|24:00";
const NUMBERS = [
  ["bufferBeforeMinutes", "Buffer before (minutes)", 0, 240],
  ["bufferAfterMinutes", "Buffer after (minutes)", 0, 240],
  ["minNoticeMinutes", "Minimum notice (minutes)", 0, 43200],
  ["maxAdvanceDays", "Bookable up to (days ahead)", 1, 1095],
  ["capacity", "Capacity (overlapping bookings)", 1, 1000],
];
const title = (day) => day[0] + day.slice(1).toLowerCase();

/** One number field of the rules, its refusal (if any) next to it. */
function NumberField({ name, label, min, max, value, error }) {
  const message = fieldMessage(error, name);
  return html`<div class="field"><label for=${`rules-${name}`}>${label}</label>
    <input id=${`rules-${name}`} name=${name} type="number" min=${min} max=${max} required
      defaultValue=${value} aria-invalid=${message ? "true" : undefined}
      aria-describedby=${message ? `rules-${name}-error` : undefined} />
    <${FieldError} id=${`rules-${name}-error`} message=${message} /></div>`;
}

function WeeklyHours({ hours, setHours, error }) {
  const message = fieldMessage(error, "weeklyHours", "opens", "closes", "day");
  const change = (index, key, value) =>
    setHours(hours.map((h, i) => (i === index ? { ...h, [key]: value } : h)));
  return html`<fieldset class="hours" aria-describedby=${message ? "rules-hours-error" : undefined}>
    <legend>Weekly hours</legend>
    <p class="meta">No hours at all: open around the clock. Times are wall-clock times in the service's zone; 24:00 closes at midnight.</p>
    <${FieldError} id="rules-hours-error" message=${message} />
    ${WEEKDAYS.map((day) => {
      const rows = hours.map((h, i) => [h, i]).filter(([h]) => h.day === day);
      return html`<div class="weekday" data-day=${day}>
        <h3>${title(day)}</h3>
        ${rows.length === 0 && html`<p class="meta">${hours.length ? "Closed" : "Open around the clock"}</p>`}
        ${rows.map(([h, i], n) => html`<div class="interval">
          <label for=${`opens-${i}`}>${title(day)} ${n + 1} opens</label>
          <input id=${`opens-${i}`} class="time" required pattern=${TIME_PATTERN} placeholder="09:00" inputmode="numeric"
            value=${h.opens} onInput=${(e) => change(i, "opens", e.target.value)} />
          <label for=${`closes-${i}`}>closes</label>
          <input id=${`closes-${i}`} class="time" required pattern=${TIME_PATTERN} placeholder="17:00" inputmode="numeric"
            value=${h.closes} onInput=${(e) => change(i, "closes", e.target.value)} />
          <button type="button" class="secondary" onClick=${() => setHours(hours.filter((_, j) => j !== i))}
            aria-label=${`Remove ${title(day)} interval ${n + 1}`}>Remove</button>
        </div>`)}
        <button type="button" class="secondary" aria-label=${`Add hours on ${title(day)}`}
          onClick=${() => setHours([...hours, { day, opens: rows.length ? "13:00" : "09:00", closes: "17:00" }])}>Add hours</button>
      </div>`;
    })}
  </fieldset>`;
}

function RulesForm({ service, onSaved }) {
  const [run, pending, error] = useAction();
  const [hours, setHours] = useState(service.weeklyHours.map(({ day, opens, closes }) => ({ day, opens, closes })));
  const zoneMessage = fieldMessage(error, "timeZone");
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const input = { timeZone: form.get("timeZone").trim(), weeklyHours: hours };
    for (const [name] of NUMBERS) input[name] = Number(form.get(name));
    run(async () => onSaved((await request(SET_SERVICE_RULES, { id: service.id, input })).setServiceRules));
  };
  const known = fieldMessage(error, "timeZone", "weeklyHours", "opens", "closes", "day", ...NUMBERS.map(([n]) => n));
  return html`<form class="card" onSubmit=${submit} aria-label="Opening hours and booking rules">
    <div class="form-grid">
      <div class="field"><label for="rules-timeZone">Time zone</label>
        <input id="rules-timeZone" name="timeZone" list="time-zones" required defaultValue=${service.timeZone}
          aria-invalid=${zoneMessage ? "true" : undefined} aria-describedby=${zoneMessage ? "rules-timeZone-error" : undefined} />
        <datalist id="time-zones">${ZONES.map((zone) => html`<option value=${zone} />`)}</datalist>
        <${FieldError} id="rules-timeZone-error" message=${zoneMessage} /></div>
      ${NUMBERS.map(([name, label, min, max]) => html`<${NumberField} key=${name} name=${name} label=${label}
        min=${min} max=${max} value=${service[name]} error=${error} />`)}
    </div>
    <${WeeklyHours} hours=${hours} setHours=${setHours} error=${error} />
    <div class="buttons"><button type="submit" disabled=${pending}>Save hours and rules</button></div>
    ${!known && html`<${ErrorNote} error=${error} action="save the rules" />`}
  </form>`;
}

function Closures({ service, onSaved }) {
  const [run, pending, error] = useAction();
  const add = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const reason = form.get("reason").trim() || null;
    run(async () => {
      onSaved((await request(ADD_CLOSURE, { serviceId: service.id, date: form.get("date"), reason })).addClosure);
      event.target.reset();
    });
  };
  const remove = (date) =>
    run(async () => onSaved((await request(REMOVE_CLOSURE, { serviceId: service.id, date })).removeClosure));
  const reasonMessage = fieldMessage(error, "reason");
  const dateMessage = fieldMessage(error, "date");
  return html`<section class="card" aria-labelledby="closures-title">
    <h2 id="closures-title">Closures</h2>
    <p class="meta">Whole days closed (holidays), as dates in ${service.timeZone}.</p>
    ${service.closures.length
      ? html`<ul class="list closures">${service.closures.map((c) => html`<li class="row" data-closure=${c.date}>
          <span class="grow"><strong>${c.date}</strong>${c.reason ? ` · ${c.reason}` : ""}</span>
          <button type="button" class="danger" disabled=${pending} onClick=${() => remove(c.date)}
            aria-label=${`Remove the closure on ${c.date}`}>Remove</button></li>`)}</ul>`
      : html`<p class="empty">No closures.</p>`}
    <form class="inline-form" onSubmit=${add} aria-label="Add a closure">
      <div class="field"><label for="closure-date">Date</label>
        <input id="closure-date" name="date" type="date" required aria-invalid=${dateMessage ? "true" : undefined}
          aria-describedby=${dateMessage ? "closure-date-error" : undefined} />
        <${FieldError} id="closure-date-error" message=${dateMessage} /></div>
      <div class="field"><label for="closure-reason">Reason</label>
        <input id="closure-reason" name="reason" maxlength="500" aria-invalid=${reasonMessage ? "true" : undefined}
          aria-describedby=${reasonMessage ? "closure-reason-error" : undefined} />
        <${FieldError} id="closure-reason-error" message=${reasonMessage} /></div>
      <button type="submit" disabled=${pending}>Add closure</button>
    </form>
    ${!reasonMessage && !dateMessage && html`<${ErrorNote} error=${error} action="change the closures" />`}
  </section>`;
}

function SchedulesPage() {
  const { services, error: servicesError } = useAllServices();
  const [serviceId, setServiceId] = useState(null);
  const [state, setState] = useState({ service: null, error: null, version: 0 });
  const [notice, setNotice] = useState("");
  useEffect(() => {
    if (services && services.length && !serviceId) setServiceId(services[0].id);
  }, [services]);
  useEffect(() => {
    if (!serviceId) return;
    setState((old) => ({ ...old, service: null, error: null }));
    request(SERVICE_RULES, { id: serviceId })
      .then((data) => setState((old) => ({ service: data.service, error: null, version: old.version + 1 })))
      .catch((error) => setState((old) => ({ ...old, service: null, error })));
  }, [serviceId]);
  const saved = (said) => (service) => {
    setState((old) => ({ service: { ...old.service, ...service }, error: null, version: old.version + 1 }));
    setNotice(said);
  };
  const service = state.service;
  return html`<section>
    <div class="toolbar">
      <${ServicePicker} id="schedule-service" services=${services} error=${servicesError} value=${serviceId}
        onChange=${(id) => { setServiceId(id); setNotice(""); }} />
    </div>
    ${services && services.length === 0 && html`<p class="empty">No services yet: create one on the Services page.</p>`}
    <${Notice} text=${notice} />
    <${ErrorNote} error=${state.error} action="load the service's rules" />
    ${serviceId && !service && !state.error && html`<${Loading} what="Loading the rules" />`}
    ${service && html`<${RulesForm} key=${`${service.id}-${state.version}`} service=${service} onSaved=${saved("Hours and rules saved.")} />
      <${Closures} service=${service} onSaved=${saved("Closures saved.")} />`}
  </section>`;
}

registerPage({ id: "schedules", title: "Schedules", order: 25, component: SchedulesPage });
