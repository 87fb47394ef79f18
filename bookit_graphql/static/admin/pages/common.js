// What several pages share: the list of services to choose from.
import { useEffect, useState } from "../../vendor/htm-preact/standalone.module.js";
import { SERVICES } from "../operations.js";
import { ErrorNote, everything, html, Loading } from "../ui.js";

/** All services (active and inactive), by title: { services, error }. */
export function useAllServices() {
  const [state, setState] = useState({ services: null, error: null });
  useEffect(() => {
    everything(SERVICES, "services", { orderBy: { field: "TITLE", direction: "ASC" } })
      .then((services) => setState({ services, error: null }))
      .catch((error) => setState({ services: [], error }));
  }, []);
  return state;
}

/** A labelled <select> of services. */
export function ServicePicker({ id, services, error, value, onChange, allowAll = false }) {
  if (services === null) return html`<${Loading} what="Loading services" />`;
  return html`<div class="field">
    <label for=${id}>Service</label>
    <select id=${id} value=${value || ""} onChange=${(e) => onChange(e.target.value || null)}>
      ${allowAll && html`<option value="">All services</option>`}
      ${!allowAll && !value && html`<option value="">Choose a service</option>`}
      ${services.map((s) => html`<option value=${s.id}>${s.title}${s.isActive ? "" : " (inactive)"}</option>`)}
    </select>
    <${ErrorNote} error=${error} action="load the services" />
  </div>`;
}
