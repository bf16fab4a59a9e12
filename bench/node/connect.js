// A $connect REQUEST authorizer on aws-jwt-verify, written as AWS's examples write it: the
// verifier is created at module load (cold start), `verify` per invocation. The Node peer of
// bench/coldstart.py and bench/node_per_token.py.
//
// Keys: JWKS_FILE (read at load and handed to the verifier, like fastauthz's file:// keys) or
// JWKS_URI (fetched on the first verify, as the library does). With JWKS_URI, BENCH_CA_FILE names
// the benchmark's throwaway CA: it is added to Node's own root store in the fetcher's request
// options (aws-jwt-verify's documented `SimpleFetcher({ defaultRequestOptions })`), the way a
// deployment trusts a private CA, so only the URL scenario pays for parsing the root store.
"use strict";
const { JwtVerifier } = require("aws-jwt-verify");

function jwksCache() {
  if (!process.env.JWKS_URI || !process.env.BENCH_CA_FILE) return undefined;
  const { SimpleJwksCache } = require("aws-jwt-verify/jwk");
  const { SimpleFetcher } = require("aws-jwt-verify/https");
  const ca = [...require("tls").rootCertificates, require("fs").readFileSync(process.env.BENCH_CA_FILE, "utf8")];
  return new SimpleJwksCache({ fetcher: new SimpleFetcher({ defaultRequestOptions: { ca } }) });
}

const verifier = JwtVerifier.create(
  {
    issuer: process.env.JWT_ISSUER,
    audience: process.env.JWT_AUTHORIZED_AUDIENCES.split(","),
    jwksUri: process.env.JWKS_URI || "https://unused.invalid/jwks.json",
  },
  { jwksCache: jwksCache() },
);
if (process.env.JWKS_FILE) {
  verifier.cacheJwks(JSON.parse(require("fs").readFileSync(process.env.JWKS_FILE, "utf8")));
}

function bearer(event) {
  const header = (event.headers || {}).Authorization || (event.headers || {}).authorization || "";
  return header.startsWith("Bearer ") ? header.slice(7) : header;
}

exports.handler = async (event) => {
  let payload;
  try {
    payload = await verifier.verify(bearer(event));
  } catch {
    throw new Error("Unauthorized");
  }
  const [arn, api, stage] = event.methodArn.match(/^(arn:aws:execute-api:[^:]+:[^:]+:)([^/]+)\/([^/]+)/).slice(1);
  return {
    principalId: payload.sub,
    policyDocument: {
      Version: "2012-10-17",
      Statement: [{ Action: "execute-api:Invoke", Effect: "Allow", Resource: `${arn}${api}/${stage}/*` }],
    },
    context: { iss: payload.iss, scope: payload.scope, email: payload.email, exp: payload.exp },
  };
};

// `node connect.js` with the event in BENCH_EVENT: one cold start, process start to first Allow. It
// reports the moment of the Allow on CLOCK_MONOTONIC (process.hrtime.bigint), the clock the parent
// (bench/coldstart.py) and the Python side read, and its peak RSS.
if (require.main === module) {
  exports.handler(JSON.parse(process.env.BENCH_EVENT)).then((result) => {
    const allowed = process.hrtime.bigint();
    if (result.policyDocument.Statement[0].Effect !== "Allow") process.exit(3);
    const rss = Number(require("fs").readFileSync("/proc/self/status", "utf8").match(/VmHWM:\s+(\d+)/)[1]) / 1024;
    process.stdout.write(JSON.stringify({ rss_mb: rss, allow_ns: Number(allowed) }) + "\n");
  }, (error) => { console.error(String(error)); process.exit(2); });
}
