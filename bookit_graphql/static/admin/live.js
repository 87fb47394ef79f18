// Live booking changes: one graphql-ws socket, authenticated in connection_init with
// the current access token (re-read on every reconnect: the server closes the
// socket with 4403 when a token expires, and the client reconnects with the new one).
import { createClient } from "../vendor/graphql-ws/client.js";
import { accessToken } from "./api.js";
import { BOOKING_CHANGES } from "./operations.js";

let client = null;

function socket() {
  if (!client) {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
    client = createClient({
      url,
      lazy: true,
      connectionParams: () => ({ Authorization: `Bearer ${accessToken()}` }),
      shouldRetry: () => accessToken() !== null,
      retryAttempts: 1000,
    });
  }
  return client;
}

/**
 * Call onEvent(change) for every booking change (of one service, if given); returns stop().
 *
 * After a reconnect nothing is missed: the subscription resumes `after` the last
 * cursor it saw, so the server replays what happened while the socket was down.
 */
export function watchBookings({ serviceId = null, onEvent, onError, onConnected, onClosed }) {
  const ws = socket();
  // graphql-ws sends this same payload again on every reconnect (it is serialised
  // at each send), so the cursor kept here is the one the resubscription carries.
  const variables = { serviceId, after: null };
  const offs = [
    onConnected ? ws.on("connected", onConnected) : () => {},
    onClosed ? ws.on("closed", onClosed) : () => {},
  ];
  const stop = ws.subscribe(
    { query: BOOKING_CHANGES, operationName: "BookingChanges", variables },
    {
      next: (result) => {
        if (!result.data) return;
        variables.after = result.data.bookingChanged.cursor;
        onEvent(result.data.bookingChanged);
      },
      error: (error) => onError && onError(error),
      complete: () => {},
    }
  );
  return () => {
    for (const off of offs) off();
    stop();
  };
}

/** Close the socket (at sign-out). */
export function closeLive() {
  if (client) client.dispose();
  client = null;
}
