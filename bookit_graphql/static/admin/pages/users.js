// Users: search, change role, deactivate or reactivate.
import { useState } from "../../vendor/htm-preact/standalone.module.js";
import { request } from "../api.js";
import { UPDATE_USER, USERS } from "../operations.js";
import { registerPage } from "../registry.js";
import { Empty, ErrorNote, html, Loading, MoreButton, Notice, useAction, usePaged, when } from "../ui.js";

function UserRow({ person, list, setNotice, me }) {
  const [run, pending, error] = useAction();
  const update = (input, said) =>
    run(async () => {
      const data = await request(UPDATE_USER, { id: person.id, input });
      list.replace({ ...person, ...data.updateUser });
      setNotice(said(data.updateUser));
    });
  const name = person.fullName || person.email;
  return html`<li class="card row">
    <div class="grow">
      <h2 class="item-title">${name}${person.id === me.id ? " (you)" : ""}</h2>
      <p class="meta">${person.email} · since ${when(person.createdAt)} ·
        <span class=${`badge ${person.isActive ? "ok" : "off"}`}>${person.isActive ? "active" : "deactivated"}</span></p>
    </div>
    <div class="buttons">
      <label class="inline" for=${`role-${person.id}`}>Role</label>
      <select id=${`role-${person.id}`} value=${person.role} disabled=${pending}
        onChange=${(e) => update({ role: e.target.value }, (u) => `${name} is now ${u.role === "ADMIN" ? "an admin" : "a user"}.`)}>
        <option value="USER">User</option><option value="ADMIN">Admin</option>
      </select>
      <button type="button" class=${person.isActive ? "danger" : "secondary"} disabled=${pending}
        aria-label=${`${person.isActive ? "Deactivate" : "Reactivate"} ${name}`}
        onClick=${() => update({ isActive: !person.isActive }, (u) => `${name} is ${u.isActive ? "active again" : "deactivated"}.`)}>
        ${person.isActive ? "Deactivate" : "Reactivate"}</button>
    </div>
    <${ErrorNote} error=${error} action="change the user" />
  </li>`;
}

function UsersPage({ user }) {
  const [q, setQ] = useState("");
  const [role, setRole] = useState("");
  const [notice, setNotice] = useState("");
  const filter = { q: q || null, role: role || null };
  const list = usePaged(USERS, "users", { filter }, `${q}|${role}`);
  return html`<section>
    <form class="toolbar" role="search" onSubmit=${(e) => { e.preventDefault(); setQ(new FormData(e.target).get("q")); }}>
      <div class="field"><label for="user-q">Search users (name or email)</label>
        <input id="user-q" name="q" type="search" defaultValue=${q} /></div>
      <div class="field"><label for="user-role">Role</label>
        <select id="user-role" value=${role} onChange=${(e) => setRole(e.target.value)}>
          <option value="">Any</option><option value="USER">User</option><option value="ADMIN">Admin</option>
        </select></div>
      <button type="submit">Search</button>
    </form>
    <${Notice} text=${notice} />
    <${ErrorNote} error=${list.error} action="load the users" />
    ${!list.loading && !list.error && html`<p class="meta">${list.total} users</p>`}
    ${list.nodes.length > 0 && html`<ul class="list">${list.nodes.map((p) => html`<${UserRow} key=${p.id} person=${p} list=${list} setNotice=${setNotice} me=${user} />`)}</ul>`}
    ${list.loading && html`<${Loading} what="Loading users" />`}
    ${!list.loading && !list.error && list.nodes.length === 0 && html`<${Empty}>No users match.</${Empty}>`}
    <${MoreButton} list=${list} label="More users" />
  </section>`;
}

registerPage({ id: "users", title: "Users", order: 40, component: UsersPage });
