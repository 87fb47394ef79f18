// PostGraphile 5 on BookIt's database: the benchmark's second anchor (bench/postgraphile.py).
//
//   node server.mjs   (PORT, PGHOST, PGDATABASE, PGUSER, SECRET_KEY from the environment)
//
// The Amber preset as it comes, on node:http, with GraphiQL, watch mode and
// EXPLAIN off. A bearer token is checked on every request that carries one, as
// BookIt checks it: jsonwebtoken verifies the HS256 signature, expiry, issuer,
// audience and `typ`, then one statement finds its session live and its user
// active; a bad token fails the request (HTTP 500 with that error: grafserv's
// answer to a failing context, where BookIt answers 401). No pgSettings and no row-level
// security: the bench's S2 viewer is an admin, who sees every booking.
import { createServer } from "node:http";

import jwt from "jsonwebtoken";
import pg from "pg";
import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const SECRET = process.env.SECRET_KEY;
const VIEWER = `SELECT u.role::text AS role FROM users u JOIN auth_sessions a ON a.user_id = u.id
WHERE u.id = $1 AND u.is_active AND a.id = $2 AND a.revoked_at IS NULL`;

// PGHOST (the socket folder), PGDATABASE and PGUSER come from the environment
const pool = new pg.Pool({ max: 10 });

async function viewer(header) {
  if (!header) return null;
  let claims;
  try {
    claims = jwt.verify(header.replace(/^Bearer /, ""), SECRET, {
      algorithms: ["HS256"],
      issuer: "bookit",
      audience: "bookit-api",
    });
  } catch {
    throw new Error("The access token is invalid, expired or revoked.");
  }
  if (claims.typ !== "access") throw new Error("The access token is invalid, expired or revoked.");
  const found = await pool.query({ name: "viewer", text: VIEWER, values: [claims.sub, claims.sid] });
  if (found.rows.length === 0) throw new Error("The access token is invalid, expired or revoked.");
  return { id: claims.sub, role: found.rows[0].role };
}

const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [makePgService({ pool, schemas: ["public"] })],
  grafast: {
    explain: false,
    async context(requestContext) {
      const headers = requestContext.node?.req?.headers ?? {};
      return { viewer: await viewer(headers.authorization) };
    },
  },
  grafserv: { graphqlPath: "/graphql", graphiql: false, watch: false, maxRequestLength: 100_000 },
};

const pgl = postgraphile(preset);
await pgl.getSchema(); // introspected and built before /healthz answers
const serv = pgl.createServ(grafserv);
const graphql = serv.createHandler();
const server = createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"status":"ok"}');
    return;
  }
  graphql(req, res);
});
server.keepAliveTimeout = 75_000;
server.listen(Number(process.env.PORT), "127.0.0.1");
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => pool.end().then(() => process.exit(0))));
}
