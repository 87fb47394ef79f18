// Runs graphql-http's GraphQL-over-HTTP server audits against a live server.
//
//   node audit.mjs http://127.0.0.1:PORT/graphql
//
// Prints one JSON line per audit: {"id", "name", "status", "reason"}, where
// status is graphql-http's "ok" | "notice" | "warn" | "error", or "fatal" when
// the audit itself threw (the server could not be reached, say). Judging the
// results is left to tests/test_http_audit.py, so this exits 0 once every
// audit has run; it exits 2 only on a usage error.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql endpoint URL>');
  process.exit(2);
}

for (const { id, name, fn } of serverAudits({ url, fetchFn: fetch })) {
  let status;
  let reason = '';
  try {
    const result = await fn();
    status = result.status;
    if (result.status !== 'ok') {
      reason = `${result.reason} (got HTTP ${result.response.status})`;
    }
  } catch (error) {
    status = 'fatal';
    reason = String(error?.cause ?? error);
  }
  console.log(JSON.stringify({ id, name, status, reason }));
}
