// The dashboard's shell: sign-in, the navigation built from the page registry,
// and a hash route per page (#/bookings), so /admin/ is the only HTML document.
import { render, useEffect, useRef, useState } from "../vendor/htm-preact/standalone.module.js";
import { NotAdmin, onSession, resume, signIn, signOut } from "./api.js";
import { closeLive } from "./live.js";
import "./pages/index.js";
import { allPages, findPage } from "./registry.js";
import { ErrorNote, html } from "./ui.js";

function SignIn({ refused }) {
  const [error, setError] = useState(refused);
  const [pending, setPending] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    setPending(true);
    setError(null);
    try {
      await signIn(form.get("email"), form.get("password"));
    } catch (caught) {
      setError(caught);
    } finally {
      setPending(false);
    }
  };
  return html`<main class="signin" id="main">
    <h1>BookIt admin</h1>
    <form onSubmit=${submit} aria-describedby="signin-help">
      <p id="signin-help">Sign in with an admin account.</p>
      <label for="email">Email</label>
      <input id="email" name="email" type="email" autocomplete="username" required />
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required />
      <button type="submit" disabled=${pending}>${pending ? "Signing in…" : "Sign in"}</button>
    </form>
    ${error instanceof NotAdmin
      ? html`<div class="error" role="alert"><p><strong>Refused. </strong>${error.message}</p></div>`
      : html`<${ErrorNote} error=${error} action="sign in" />`}
  </main>`;
}

function currentRoute() {
  return location.hash.replace(/^#\/?/, "").split("?")[0];
}

function Shell({ user }) {
  const [route, setRoute] = useState(currentRoute());
  const [menuOpen, setMenuOpen] = useState(false);
  const heading = useRef(null);
  useEffect(() => {
    const follow = () => {
      setRoute(currentRoute());
      setMenuOpen(false);
    };
    addEventListener("hashchange", follow);
    return () => removeEventListener("hashchange", follow);
  }, []);
  const page = findPage(route);
  useEffect(() => {
    document.title = `${page.title} · BookIt admin`;
    heading.current?.focus();
  }, [page.id]);
  const Page = page.component;
  return html`<a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); heading.current?.focus(); }}>Skip to content</a>
    <header class="top">
      <span class="brand">BookIt admin</span>
      <button type="button" class="menu secondary" aria-expanded=${menuOpen} aria-controls="nav"
        onClick=${() => setMenuOpen(!menuOpen)}>Menu</button>
      <nav id="nav" aria-label="Pages" class=${menuOpen ? "open" : ""}>
        <ul>
          ${allPages().map(
            (p) => html`<li><a href=${`#/${p.id}`} aria-current=${p.id === page.id ? "page" : undefined}>${p.title}</a></li>`
          )}
        </ul>
      </nav>
      <span class="who">${user.fullName || user.email}</span>
      <button type="button" class="secondary" onClick=${() => { closeLive(); signOut(); }}>Sign out</button>
    </header>
    <main id="main">
      <h1 tabindex="-1" ref=${heading}>${page.title}</h1>
      <${Page} key=${page.id} user=${user} />
    </main>`;
}

function App() {
  const [state, setState] = useState({ ready: false, user: null, refused: null });
  useEffect(() => {
    const off = onSession((user) => setState({ ready: true, user, refused: null }));
    resume()
      .then((user) => setState({ ready: true, user, refused: null }))
      .catch((refused) => setState({ ready: true, user: null, refused }));
    return off;
  }, []);
  if (!state.ready) return html`<p class="loading" role="status">Loading the dashboard…</p>`;
  return state.user ? html`<${Shell} user=${state.user} />` : html`<${SignIn} refused=${state.refused} />`;
}

render(html`<${App} />`, document.getElementById("app"));
