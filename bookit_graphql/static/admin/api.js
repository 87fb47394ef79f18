// Talking to /graphql: the session's tokens, their refresh, and errors in words.
//
// The access token lives in memory only; the refresh token in sessionStorage (so
// a reload of this tab stays signed in, and closing the tab forgets it). Tokens
// are refreshed a minute before the access token expires, and once more when a
// request is answered with HTTP 401.
import { LOGIN, LOGOUT, REFRESH } from "./operations.js";

const ENDPOINT = "/graphql";
const REFRESH_KEY = "bookit.admin.refreshToken";
const EARLY = 60; // seconds before expiry to refresh

/** An error from the API (or the network), with what a person needs to report it. */
export class ApiError extends Error {
  constructor(message, { code = "", requestId = "", extensions = {}, status = 0 } = {}) {
    super(message);
    this.code = code;
    this.requestId = requestId;
    this.extensions = extensions;
    this.status = status;
  }
}

/** Refused at sign-in: the account is not an admin's. */
export class NotAdmin extends Error {}

const session = { access: null, refresh: null, user: null, timer: null };
const listeners = new Set();

/** Call `listener(user or null)` when the session starts or ends. */
export function onSession(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function currentUser() {
  return session.user;
}

export function accessToken() {
  return session.access;
}

function announce() {
  for (const listener of listeners) listener(session.user);
}

const ids = new Map();

/** A document's id: "sha256:" and the SHA-256 of its text, as the server registers it. */
async function documentId(query) {
  if (!ids.has(query)) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(query));
    const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0"));
    ids.set(query, `sha256:${hex.join("")}`);
  }
  return ids.get(query);
}

// Every document is sent by its id, never as text: the server ships the
// dashboard's documents (persisted-documents.json beside this file), so signing
// in works also where only trusted documents are accepted.
async function post(query, variables, { auth = true } = {}) {
  const requestId = crypto.randomUUID().replaceAll("-", "");
  const headers = { "Content-Type": "application/json", "X-Request-ID": requestId };
  if (auth && session.access) headers.Authorization = `Bearer ${session.access}`;
  const operationName = /^\s*(?:query|mutation)\s+(\w+)/.exec(query)?.[1];
  const persisted = await documentId(query);
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers,
      body: JSON.stringify({ documentId: persisted, variables, operationName }),
    });
  } catch (error) {
    throw new ApiError("BookIt did not answer: check the connection and try again.", {
      code: "NETWORK_ERROR",
      requestId,
    });
  }
  const id = response.headers.get("X-Request-ID") || requestId;
  let body;
  try {
    body = await response.json();
  } catch (error) {
    throw new ApiError(`BookIt answered HTTP ${response.status} without a GraphQL body.`, {
      code: "HTTP_" + response.status,
      requestId: id,
      status: response.status,
    });
  }
  if (body.errors && body.errors.length) {
    const [first] = body.errors;
    const extensions = first.extensions || {};
    throw new ApiError(first.message, {
      code: extensions.code || "",
      requestId: id,
      extensions,
      status: response.status,
    });
  }
  return body.data;
}

/** Run one of the contract's operations as the signed-in admin. */
export async function request(query, variables = {}) {
  try {
    return await post(query, variables);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && session.refresh) {
      await refresh();
      return post(query, variables);
    }
    if (error instanceof ApiError && error.status === 401) end();
    throw error;
  }
}

function start(payload) {
  if (payload.user.role !== "ADMIN") {
    // not kept: end this session on the server at once
    post(LOGOUT, { refreshToken: payload.refreshToken }, { auth: false }).catch(() => {});
    sessionStorage.removeItem(REFRESH_KEY);
    throw new NotAdmin(
      `${payload.user.email} is not an admin: this dashboard is for admins only. ` +
        "Your session has been ended; sign in with an admin account."
    );
  }
  const changed = session.user?.id !== payload.user.id;
  session.access = payload.accessToken;
  session.refresh = payload.refreshToken;
  session.user = payload.user;
  sessionStorage.setItem(REFRESH_KEY, payload.refreshToken);
  clearTimeout(session.timer);
  const delay = Math.max(5, payload.expiresIn - EARLY) * 1000;
  session.timer = setTimeout(() => refresh().catch(() => end()), delay);
  if (changed) announce();
}

function end() {
  clearTimeout(session.timer);
  const had = session.user !== null;
  session.access = session.refresh = session.user = null;
  sessionStorage.removeItem(REFRESH_KEY);
  if (had) announce();
}

export async function signIn(email, password) {
  const data = await post(LOGIN, { input: { email, password } }, { auth: false });
  start(data.login);
  return session.user;
}

let refreshing = null;

/** Rotate the tokens (one refresh at a time: a second would reuse a rotated token). */
export function refresh() {
  if (!refreshing) {
    const token = session.refresh;
    refreshing = post(REFRESH, { refreshToken: token }, { auth: false })
      .then((data) => start(data.refreshToken))
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** Resume the tab's session from sessionStorage, if there is one. */
export async function resume() {
  const token = sessionStorage.getItem(REFRESH_KEY);
  if (!token) return null;
  session.refresh = token;
  try {
    await refresh();
  } catch (error) {
    end();
    if (error instanceof NotAdmin) throw error;
    return null;
  }
  return session.user;
}

/** Sign out: revoke the session on the server, then forget the tokens. */
export async function signOut() {
  try {
    if (session.refresh) await post(LOGOUT, { refreshToken: session.refresh });
  } finally {
    end();
  }
}
