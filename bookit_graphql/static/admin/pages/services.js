// Services: search, create, edit, activate or deactivate, delete.
import { useState } from "../../vendor/htm-preact/standalone.module.js";
import { CREATE_SERVICE, DELETE_SERVICE, SERVICES, UPDATE_SERVICE } from "../operations.js";
import { registerPage } from "../registry.js";
import { request } from "../api.js";
import { Empty, ErrorNote, html, Loading, MoreButton, Notice, useAction, usePaged } from "../ui.js";

function ServiceForm({ service, onSaved, onCancel }) {
  const [run, pending, error] = useAction();
  const prefix = service ? `edit-${service.id}` : "new";
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const input = {
      title: form.get("title"),
      description: form.get("description"),
      price: form.get("price"),
      durationMinutes: Number(form.get("durationMinutes")),
      isActive: form.get("isActive") === "on",
    };
    run(async () => {
      const data = service
        ? await request(UPDATE_SERVICE, { id: service.id, input })
        : await request(CREATE_SERVICE, { input });
      onSaved(service ? data.updateService : data.createService);
    });
  };
  return html`<form class="card form-grid" onSubmit=${submit} aria-label=${service ? `Edit ${service.title}` : "New service"}>
    <div class="field"><label for=${`${prefix}-title`}>Title</label>
      <input id=${`${prefix}-title`} name="title" required defaultValue=${service?.title || ""} /></div>
    <div class="field"><label for=${`${prefix}-price`}>Price</label>
      <input id=${`${prefix}-price`} name="price" required inputmode="decimal" pattern="[0-9]+(\\.[0-9]{1,2})?"
        defaultValue=${service?.price || ""} /></div>
    <div class="field"><label for=${`${prefix}-duration`}>Duration (minutes)</label>
      <input id=${`${prefix}-duration`} name="durationMinutes" type="number" min="1" required
        defaultValue=${service?.durationMinutes || 60} /></div>
    <div class="field wide"><label for=${`${prefix}-description`}>Description</label>
      <textarea id=${`${prefix}-description`} name="description" rows="2" defaultValue=${service?.description || ""}></textarea></div>
    <div class="field check"><input id=${`${prefix}-active`} name="isActive" type="checkbox"
      defaultChecked=${service ? service.isActive : true} /><label for=${`${prefix}-active`}>Active (bookable)</label></div>
    <div class="buttons">
      <button type="submit" disabled=${pending}>${service ? "Save" : "Create service"}</button>
      <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
    </div>
    <${ErrorNote} error=${error} action=${service ? "save the service" : "create the service"} />
  </form>`;
}

function ServiceRow({ service, list, setNotice }) {
  const [editing, setEditing] = useState(false);
  const [run, pending, error] = useAction();
  const toggle = () =>
    run(async () => {
      const data = await request(UPDATE_SERVICE, { id: service.id, input: { isActive: !service.isActive } });
      list.replace(data.updateService);
      setNotice(`${service.title} is now ${data.updateService.isActive ? "active" : "inactive"}.`);
    });
  const remove = () =>
    run(async () => {
      const data = await request(DELETE_SERVICE, { id: service.id });
      if (data.deleteService === "DELETED") {
        list.remove(service.id);
        setNotice(`${service.title} was deleted.`);
      } else {
        list.reload();
        setNotice(`${service.title} has bookings, so it was deactivated instead of deleted.`);
      }
    });
  if (editing)
    return html`<li><${ServiceForm} service=${service} onCancel=${() => setEditing(false)}
      onSaved=${(saved) => { list.replace(saved); setEditing(false); setNotice(`${saved.title} saved.`); }} /></li>`;
  return html`<li class="card row">
    <div class="grow">
      <h2 class="item-title">${service.title}</h2>
      <p class="meta">${service.price} · ${service.durationMinutes} min ·
        ${service.reviewCount ? ` ${Number(service.averageRating).toFixed(1)} ★ (${service.reviewCount})` : " no reviews"} ·
        <span class=${`badge ${service.isActive ? "ok" : "off"}`}>${service.isActive ? "active" : "inactive"}</span></p>
    </div>
    <div class="buttons">
      <button type="button" class="secondary" onClick=${() => setEditing(true)} aria-label=${`Edit ${service.title}`}>Edit</button>
      <button type="button" class="secondary" onClick=${toggle} disabled=${pending}
        aria-label=${`${service.isActive ? "Deactivate" : "Activate"} ${service.title}`}>${service.isActive ? "Deactivate" : "Activate"}</button>
      <button type="button" class="danger" onClick=${remove} disabled=${pending}
        aria-label=${`Delete ${service.title}`}>Delete</button>
    </div>
    <${ErrorNote} error=${error} action="change the service" />
  </li>`;
}

function ServicesPage() {
  const [q, setQ] = useState("");
  const [active, setActive] = useState("");
  const [creating, setCreating] = useState(false);
  const [notice, setNotice] = useState("");
  const filter = { q: q || null, active: active === "" ? null : active === "true" };
  const list = usePaged(SERVICES, "services", { filter, orderBy: { field: "TITLE", direction: "ASC" } }, `${q}|${active}`);
  return html`<section>
    <form class="toolbar" role="search" onSubmit=${(e) => { e.preventDefault(); setQ(new FormData(e.target).get("q")); }}>
      <div class="field"><label for="service-q">Search services</label>
        <input id="service-q" name="q" type="search" defaultValue=${q} /></div>
      <div class="field"><label for="service-active">Show</label>
        <select id="service-active" value=${active} onChange=${(e) => setActive(e.target.value)}>
          <option value="">All</option><option value="true">Active</option><option value="false">Inactive</option>
        </select></div>
      <button type="submit">Search</button>
      <button type="button" onClick=${() => setCreating(true)}>New service</button>
    </form>
    ${creating && html`<${ServiceForm} onCancel=${() => setCreating(false)}
      onSaved=${(saved) => { setCreating(false); setNotice(`${saved.title} created.`); list.reload(); }} />`}
    <${Notice} text=${notice} />
    <${ErrorNote} error=${list.error} action="load the services" />
    ${!list.loading && !list.error && html`<p class="meta">${list.total} services</p>`}
    ${list.nodes.length > 0 && html`<ul class="list">${list.nodes.map((s) => html`<${ServiceRow} key=${s.id} service=${s} list=${list} setNotice=${setNotice} />`)}</ul>`}
    ${list.loading && html`<${Loading} what="Loading services" />`}
    ${!list.loading && !list.error && list.nodes.length === 0 && html`<${Empty}>No services match.</${Empty}>`}
    <${MoreButton} list=${list} label="More services" />
  </section>`;
}

registerPage({ id: "services", title: "Services", order: 30, component: ServicesPage });
