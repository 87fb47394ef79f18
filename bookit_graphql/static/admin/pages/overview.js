// The overview: today's and the next seven days' active bookings per service, as a plain SVG chart.
import { useEffect, useState } from "../../vendor/htm-preact/standalone.module.js";
import { BOOKINGS } from "../operations.js";
import { registerPage } from "../registry.js";
import { addDays, Empty, ErrorNote, everything, html, Loading, startOfDay } from "../ui.js";

const SHOWN = 12; // the busiest services

function Chart({ rows }) {
  const max = Math.max(1, ...rows.map((r) => r.week));
  const label = 170, width = 640, bar = 14, gap = 12, height = rows.length * (2 * bar + gap) + 30;
  const scale = (n) => ((width - label - 40) * n) / max;
  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${width} ${height}`} role="img" aria-labelledby="chart-title">
      <title id="chart-title">Active bookings per service: today, and in the next 7 days</title>
      ${rows.map((row, i) => {
        const y = i * (2 * bar + gap) + 24;
        return html`<g>
          <text x=${label - 8} y=${y + bar} text-anchor="end" class="chart-label">${row.title.slice(0, 24)}</text>
          <rect x=${label} y=${y} width=${scale(row.today)} height=${bar} class="bar-today" />
          <text x=${label + scale(row.today) + 4} y=${y + bar - 3} class="chart-value">${row.today}</text>
          <rect x=${label} y=${y + bar} width=${scale(row.week)} height=${bar} class="bar-week" />
          <text x=${label + scale(row.week) + 4} y=${y + 2 * bar - 3} class="chart-value">${row.week}</text>
        </g>`;
      })}
      <rect x=${label} y="2" width="12" height="12" class="bar-today" /><text x=${label + 16} y="13" class="chart-value">today</text>
      <rect x=${label + 80} y="2" width="12" height="12" class="bar-week" /><text x=${label + 96} y="13" class="chart-value">next 7 days</text>
    </svg>
  </figure>`;
}

function OverviewPage() {
  const [state, setState] = useState({ rows: null, total: 0, error: null });
  useEffect(() => {
    const today = startOfDay(new Date());
    const tomorrow = addDays(today, 1);
    const filter = { from: today.toISOString(), to: addDays(tomorrow, 7).toISOString() };
    everything(BOOKINGS, "bookings", { filter }, 50)
      .then((bookings) => {
        const counts = new Map();
        for (const b of bookings) {
          if (b.status === "CANCELLED") continue;
          const row = counts.get(b.service.id) || { id: b.service.id, title: b.service.title, today: 0, week: 0 };
          if (new Date(b.startsAt) < tomorrow) row.today += 1;
          else row.week += 1;
          counts.set(b.service.id, row);
        }
        const rows = [...counts.values()].sort((a, b) => b.today + b.week - (a.today + a.week));
        setState({ rows, total: bookings.length, error: null });
      })
      .catch((error) => setState({ rows: [], total: 0, error }));
  }, []);
  if (state.error) return html`<${ErrorNote} error=${state.error} action="load the overview" />`;
  if (state.rows === null) return html`<${Loading} what="Counting bookings" />`;
  if (state.rows.length === 0) return html`<${Empty}>No bookings today or in the next 7 days.</${Empty}>`;
  const shown = state.rows.slice(0, SHOWN);
  return html`<section>
    <p>Bookings that are not cancelled, per service: today and the seven days after.
      ${state.rows.length > SHOWN ? ` The ${SHOWN} busiest of ${state.rows.length} services.` : ""}</p>
    <${Chart} rows=${shown} />
    <table>
      <caption>The same numbers</caption>
      <thead><tr><th scope="col">Service</th><th scope="col">Today</th><th scope="col">Next 7 days</th></tr></thead>
      <tbody>${shown.map((r) => html`<tr><th scope="row"><a href="#/bookings">${r.title}</a></th><td>${r.today}</td><td>${r.week}</td></tr>`)}</tbody>
    </table>
  </section>`;
}

registerPage({ id: "overview", title: "Overview", order: 10, component: OverviewPage });
