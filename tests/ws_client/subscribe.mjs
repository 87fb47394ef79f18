// Subscribes to BookIt's bookingChanged with the official graphql-ws client.
//
//   node subscribe.mjs <ws URL> <access token> <events> [timeout ms] [variables JSON]
//
// Prints one JSON line per thing that happens, for tests/test_ws_clients.py:
//   {"event": "connected"}                 the server acknowledged connection_init
//   {"event": "subscribed"}                shortly after that: make changes now
//   {"event": "next", "payload": {...}}    one execution result (data / errors)
//   {"event": "closed", "code": N, "reason": "..."}
//   {"event": "error", "code": N, "reason": "...", "message": "..."}
//   {"event": "timeout"}
// Exits 0 after <events> results, 1 when the subscription failed or the socket
// closed first, 3 on the timeout, 2 on a usage error. The client never retries:
// what the server does first is what the test sees.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

// The contract's BookingChanges (shared/contract/operations.graphql), with its fragment.
const BOOKING_CHANGES = `
fragment BookingFields on Booking {
  id
  startsAt
  endsAt
  status
  createdAt
  updatedAt
  service { id title price durationMinutes }
  user { id email fullName }
  review { id rating comment }
}

subscription BookingChanges($serviceId: ID, $bookingId: ID, $after: String) {
  bookingChanged(serviceId: $serviceId, bookingId: $bookingId, after: $after) {
    cursor
    kind
    occurredAt
    booking { ...BookingFields }
  }
}
`;

// How long after connection_ack the server is taken to have registered the
// subscription (the subscribe message goes out right after the ack).
const SETTLE_MS = 300;

const [url, token, eventsArg, timeoutArg = '15000', variablesArg = '{}'] = process.argv.slice(2);
const wanted = Number(eventsArg);
if (!url || token === undefined || !Number.isInteger(wanted) || wanted < 1) {
  console.error('usage: node subscribe.mjs <ws URL> <access token> <events> [timeout ms] [variables JSON]');
  process.exit(2);
}

const print = (line) => console.log(JSON.stringify(line));
let finished = false;

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: 'Bearer ' + token },
  retryAttempts: 0,
  on: {
    connected: () => {
      print({ event: 'connected' });
      setTimeout(() => finished || print({ event: 'subscribed' }), SETTLE_MS);
    },
    closed: (event) => {
      if (!finished) print({ event: 'closed', code: event?.code ?? null, reason: event?.reason ?? '' });
    },
  },
});

async function finish(exitCode) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  await client.dispose();
  process.exit(exitCode);
}

const timer = setTimeout(() => {
  print({ event: 'timeout' });
  finish(3);
}, Number(timeoutArg));

let received = 0;
client.subscribe(
  { query: BOOKING_CHANGES, operationName: 'BookingChanges', variables: JSON.parse(variablesArg) },
  {
    next: (payload) => {
      print({ event: 'next', payload });
      received += 1;
      if (received >= wanted) finish(0);
    },
    error: (error) => {
      // A CloseEvent when the socket closed, else GraphQL errors or an Error.
      print({
        event: 'error',
        code: error?.code ?? null,
        reason: error?.reason ?? '',
        message: Array.isArray(error) ? JSON.stringify(error) : String(error?.message ?? error),
      });
      finish(1);
    },
    complete: () => {
      print({ event: 'complete' });
      finish(1);
    },
  },
);
