"""What the tests (and the benchmarks) share, one module per job:

  keys        named keys generated once per session, their JWKS, written to a file for `file://`
  tokens      the tests' issuer, audience and clock; claims; minting through fastauthz.dev.tokens
  events      the held API Gateway events, with a token placed where a client puts it
  authorizers an Authorizer on test settings, its logs, an injectable clock, and what it decided
  server      a real HTTP(S) key server on 127.0.0.1

Forging and tampering with tokens, and base64url, live in fastauthz.dev.tokens (the load test and the
dev issuer use them too).
"""
