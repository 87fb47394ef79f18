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

/** Call onEvent(change) for every booking change (of one service, if given); returns stop(). */
export function watchBookings({ serviceId = null, onEvent, onError, onConnected }) {
  const ws = socket();
  const off = onConnected ? ws.on("connected", onConnected) : () => {};
  const stop = ws.subscribe(
    { query: BOOKING_CHANGES, operationName: "BookingChanges", variables: { serviceId } },
    {
      next: (result) => result.data && onEvent(result.data.bookingChanged),
      error: (error) => onError && onError(error),
      complete: () => {},
    }
  );
  return () => {
    off();
    stop();
  };
}

/** Close the socket (at sign-out). */
export function closeLive() {
  if (client) client.dispose();
  client = null;
}
