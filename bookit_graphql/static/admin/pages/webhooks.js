// Webhooks: endpoints (create, edit, delete, rotate the secret, send a test event)
// and each one's deliveries, filtered by status, with redeliver. A secret is shown
// once, when it is made: BookIt keeps no way to show it again.
import { useState } from "../../vendor/htm-preact/standalone.module.js";
import { request } from "../api.js";
import {
  CREATE_WEBHOOK_ENDPOINT, DELETE_WEBHOOK_ENDPOINT, REDELIVER_WEBHOOK, ROTATE_WEBHOOK_SECRET,
  SEND_TEST_WEBHOOK, UPDATE_WEBHOOK_ENDPOINT, WEBHOOK_DELIVERIES, WEBHOOK_ENDPOINTS,
} from "../operations.js";
import { registerPage } from "../registry.js";
import {
  Empty, ErrorNote, FieldError, fieldMessage, html, Loading, MoreButton, Notice, useAction, usePaged, when,
} from "../ui.js";
import { useAllServices } from "./common.js";

const EVENT_TYPES = [
  "booking.created", "booking.rescheduled", "booking.confirmed", "booking.cancelled",
  "booking.completed", "booking.deleted", "review.created",
];
const STATUSES = ["PENDING", "SUCCEEDED", "FAILED"];
const FIELDS = ["url", "eventTypes", "serviceId", "description"];

/** A secret shown once, with a copy button. */
function Secret({ secret, label, children, onDone }) {
  const [copied, setCopied] = useState("");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied("Copied.");
    } catch (error) {
      setCopied("The browser refused to copy: select the secret and copy it by hand.");
    }
  };
  return html`<div class="card secret-box" role="region" aria-label=${label}>
    <p><strong>${label}.</strong> Copy it now: you will not see it again.</p>
    <div class="secret"><code data-secret>${secret}</code>
      <button type="button" onClick=${copy}>Copy secret</button>
      <button type="button" class="secondary" onClick=${onDone}>I have copied it</button></div>
    ${children}
    <p class="meta" role="status">${copied}</p>
  </div>`;
}

function EndpointForm({ endpoint, services, onSaved, onCancel }) {
  const [run, pending, error] = useAction();
  const prefix = endpoint ? `edit-${endpoint.id}` : "new-endpoint";
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const input = {
      url: form.get("url").trim(),
      description: form.get("description"),
      eventTypes: form.getAll("eventTypes"),
      serviceId: form.get("serviceId") || null,
    };
    if (endpoint) input.isActive = form.get("isActive") === "on";
    run(async () => {
      const data = endpoint
        ? await request(UPDATE_WEBHOOK_ENDPOINT, { id: endpoint.id, input })
        : await request(CREATE_WEBHOOK_ENDPOINT, { input });
      onSaved(endpoint ? data.updateWebhookEndpoint : data.createWebhookEndpoint);
    });
  };
  const said = (name) => fieldMessage(error, name);
  const described = (name) => (said(name) ? `${prefix}-${name}-error` : undefined);
  const chosen = new Set(endpoint?.eventTypes || []);
  return html`<form class="card form-grid" onSubmit=${submit} aria-label=${endpoint ? `Edit ${endpoint.url}` : "New endpoint"}>
    <div class="field wide"><label for=${`${prefix}-url`}>URL</label>
      <input id=${`${prefix}-url`} name="url" type="url" required defaultValue=${endpoint?.url || ""}
        placeholder="https://example.com/bookit" aria-invalid=${said("url") ? "true" : undefined} aria-describedby=${described("url")} />
      <${FieldError} id=${`${prefix}-url-error`} message=${said("url")} /></div>
    <div class="field wide"><label for=${`${prefix}-description`}>Description</label>
      <input id=${`${prefix}-description`} name="description" maxlength="500" defaultValue=${endpoint?.description || ""}
        aria-invalid=${said("description") ? "true" : undefined} aria-describedby=${described("description")} />
      <${FieldError} id=${`${prefix}-description-error`} message=${said("description")} /></div>
    <fieldset class="wide" aria-describedby=${described("eventTypes")}>
      <legend>Events (none ticked: all of them)</legend>
      <div class="checks">${EVENT_TYPES.map((type) => html`<div class="field check">
        <input id=${`${prefix}-${type}`} type="checkbox" name="eventTypes" value=${type} defaultChecked=${chosen.has(type)} />
        <label for=${`${prefix}-${type}`}>${type}</label></div>`)}</div>
      <${FieldError} id=${`${prefix}-eventTypes-error`} message=${said("eventTypes")} />
    </fieldset>
    <div class="field"><label for=${`${prefix}-service`}>Service</label>
      <select id=${`${prefix}-service`} name="serviceId" defaultValue=${endpoint?.serviceId || ""}
        aria-describedby=${described("serviceId")}>
        <option value="">All services</option>
        ${(services || []).map((s) => html`<option value=${s.id} selected=${s.id === endpoint?.serviceId}>${s.title}</option>`)}
      </select>
      <${FieldError} id=${`${prefix}-serviceId-error`} message=${said("serviceId")} /></div>
    ${endpoint && html`<div class="field check"><input id=${`${prefix}-active`} name="isActive" type="checkbox"
      defaultChecked=${endpoint.isActive} /><label for=${`${prefix}-active`}>Active (re-enables a disabled endpoint)</label></div>`}
    <div class="buttons">
      <button type="submit" disabled=${pending}>${endpoint ? "Save endpoint" : "Create endpoint"}</button>
      <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
    </div>
    ${!FIELDS.some(said) && html`<${ErrorNote} error=${error} action=${endpoint ? "save the endpoint" : "create the endpoint"} />`}
  </form>`;
}

function Deliveries({ endpoint, version }) {
  const [status, setStatus] = useState("");
  const list = usePaged(WEBHOOK_DELIVERIES, "webhookDeliveries", { endpointId: endpoint.id, status: status || null },
    `${endpoint.id}|${status}|${version}`);
  const [run, pending, error] = useAction();
  const redeliver = (delivery) =>
    run(async () => list.replace((await request(REDELIVER_WEBHOOK, { deliveryId: delivery.id })).redeliverWebhook));
  const id = `deliveries-${endpoint.id}`;
  return html`<section class="deliveries" aria-labelledby=${id}>
    <h3 id=${id}>Deliveries</h3>
    <div class="toolbar">
      <div class="field"><label for=${`${id}-status`}>Status</label>
        <select id=${`${id}-status`} value=${status} onChange=${(e) => setStatus(e.target.value)}>
          <option value="">Any</option>
          ${STATUSES.map((s) => html`<option value=${s}>${s.toLowerCase()}</option>`)}
        </select></div>
      <button type="button" class="secondary" onClick=${list.reload} disabled=${list.loading}>Refresh deliveries</button>
    </div>
    <${ErrorNote} error=${list.error} action="load the deliveries" />
    <${ErrorNote} error=${error} action="redeliver" />
    ${list.loading && html`<${Loading} what="Loading deliveries" />`}
    ${!list.loading && !list.error && list.nodes.length === 0 && html`<${Empty}>No deliveries${status ? ` ${status.toLowerCase()}` : ""}.</${Empty}>`}
    ${list.nodes.length > 0 && html`<ul class="list">${list.nodes.map((d) => html`<li class="delivery row" data-delivery=${d.id}>
      <div class="grow">
        <p><strong>${d.eventType}</strong> <span class=${`badge ${d.status.toLowerCase()}`}>${d.status.toLowerCase()}</span></p>
        <p class="meta">${when(d.createdAt)} · ${d.attempts} ${d.attempts === 1 ? "attempt" : "attempts"}
          ${d.lastResponseStatus ? ` · HTTP ${d.lastResponseStatus}` : ""}
          ${d.deliveredAt ? ` · delivered ${when(d.deliveredAt)}` : ""}
          ${d.nextAttemptAt && d.status === "PENDING" ? ` · next attempt ${when(d.nextAttemptAt)}` : ""}</p>
        ${d.lastError && html`<p class="meta">Last error: ${d.lastError}</p>`}
      </div>
      <button type="button" class="secondary" disabled=${pending} onClick=${() => redeliver(d)}
        aria-label=${`Redeliver ${d.eventType} of ${when(d.createdAt)}`}>Redeliver</button>
    </li>`)}</ul>`}
    <${MoreButton} list=${list} label="More deliveries" />
  </section>`;
}

function EndpointRow({ endpoint, services, list, setNotice }) {
  const [editing, setEditing] = useState(false);
  const [open, setOpen] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [rotated, setRotated] = useState(null);
  const [version, setVersion] = useState(0);
  const [run, pending, error] = useAction();
  const service = endpoint.serviceId && (services || []).find((s) => s.id === endpoint.serviceId);
  const rotate = () =>
    run(async () => setRotated((await request(ROTATE_WEBHOOK_SECRET, { id: endpoint.id })).rotateWebhookSecret));
  const test = () =>
    run(async () => {
      const delivery = (await request(SEND_TEST_WEBHOOK, { id: endpoint.id })).sendTestWebhook;
      setOpen(true);
      setVersion((v) => v + 1);
      setNotice(`Test event queued for ${endpoint.url} (${delivery.status.toLowerCase()}).`);
    });
  const remove = () =>
    run(async () => {
      await request(DELETE_WEBHOOK_ENDPOINT, { id: endpoint.id });
      list.remove(endpoint.id);
      setNotice(`${endpoint.url} was deleted.`);
    });
  if (editing)
    return html`<li><${EndpointForm} endpoint=${endpoint} services=${services} onCancel=${() => setEditing(false)}
      onSaved=${(saved) => { list.replace(saved); setEditing(false); setNotice(`${saved.url} saved.`); }} /></li>`;
  return html`<li class="card endpoint" data-endpoint=${endpoint.id}>
    <div class="row">
      <div class="grow">
        <h2 class="item-title"><code>${endpoint.url}</code></h2>
        <p class="meta">${[
          endpoint.description || "No description",
          endpoint.eventTypes.length ? endpoint.eventTypes.join(", ") : "all events",
          service ? service.title : endpoint.serviceId ? "one service" : "all services",
        ].join(" · ")} <span class=${`badge ${endpoint.isActive ? "ok" : "off"}`}>${endpoint.isActive ? "active" : "inactive"}</span></p>
        ${endpoint.disabledReason && html`<p class="meta">Disabled: ${endpoint.disabledReason}</p>`}
      </div>
      <div class="buttons">
        <button type="button" class="secondary" onClick=${() => setEditing(true)} aria-label=${`Edit ${endpoint.url}`}>Edit</button>
        <button type="button" class="secondary" disabled=${pending} onClick=${test} aria-label=${`Send test event to ${endpoint.url}`}>Send test event</button>
        <button type="button" class="secondary" disabled=${pending} onClick=${rotate} aria-label=${`Rotate secret of ${endpoint.url}`}>Rotate secret</button>
        <button type="button" class="secondary" aria-expanded=${open} onClick=${() => setOpen(!open)}
          aria-label=${`Deliveries to ${endpoint.url}`}>Deliveries</button>
        ${confirming
          ? html`<button type="button" class="danger" disabled=${pending} onClick=${remove}
              aria-label=${`Really delete ${endpoint.url}`}>Really delete</button>
            <button type="button" class="secondary" onClick=${() => setConfirming(false)}>Keep</button>`
          : html`<button type="button" class="danger" onClick=${() => setConfirming(true)}
              aria-label=${`Delete ${endpoint.url}`}>Delete</button>`}
      </div>
    </div>
    ${rotated && html`<${Secret} secret=${rotated.secret} label="The new signing secret" onDone=${() => setRotated(null)}>
      <p class="meta">The previous secret keeps signing beside it until ${when(rotated.previousSecretExpiresAt)}.</p>
    </${Secret}>`}
    <${ErrorNote} error=${error} action="change the endpoint" />
    ${open && html`<${Deliveries} endpoint=${endpoint} version=${version} />`}
  </li>`;
}

function WebhooksPage() {
  const { services } = useAllServices();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState(null);
  const [notice, setNotice] = useState("");
  const list = usePaged(WEBHOOK_ENDPOINTS, "webhookEndpoints", {}, "endpoints");
  return html`<section>
    <div class="toolbar">
      <p class="meta grow">BookIt signs each callback (Standard Webhooks) and retries for up to about a day and a half.</p>
      <button type="button" onClick=${() => { setCreating(true); setCreated(null); }}>New endpoint</button>
    </div>
    ${creating && html`<${EndpointForm} services=${services} onCancel=${() => setCreating(false)}
      onSaved=${(payload) => { setCreating(false); setCreated(payload); setNotice(`${payload.endpoint.url} created.`); list.reload(); }} />`}
    ${created && html`<${Secret} secret=${created.secret} label=${`The signing secret of ${created.endpoint.url}`}
      onDone=${() => setCreated(null)} />`}
    <${Notice} text=${notice} />
    <${ErrorNote} error=${list.error} action="load the endpoints" />
    ${!list.loading && !list.error && html`<p class="meta">${list.total} ${list.total === 1 ? "endpoint" : "endpoints"}</p>`}
    ${list.nodes.length > 0 && html`<ul class="list">${list.nodes.map((e) => html`<${EndpointRow} key=${e.id} endpoint=${e}
      services=${services} list=${list} setNotice=${setNotice} />`)}</ul>`}
    ${list.loading && html`<${Loading} what="Loading endpoints" />`}
    ${!list.loading && !list.error && list.nodes.length === 0 && html`<${Empty}>No webhook endpoints yet.</${Empty}>`}
    <${MoreButton} list=${list} label="More endpoints" />
  </section>`;
}

registerPage({ id: "webhooks", title: "Webhooks", order: 60, component: WebhooksPage });
