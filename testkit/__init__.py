"""The test kit that tests/, bench/ and loadtest/ share, one module per job (none of them imports
another's modules):

  keys        named keys generated once per session, their JWKS, written to a file for `file://`
  tokens      the tests' issuer, audience and clock; claims; minting through fastauthz.dev.tokens
  forgery     tokens built by hand, tampered with, or taken apart without any check
  events      the held API Gateway events (testkit/events/), with a token placed where a client puts it
  authorizers an Authorizer on test settings, its logs, an injectable clock, and what it decided
  server      a real HTTP(S) key server on 127.0.0.1
  tls         a throwaway CA and server certificate for it
  source      the Lambda package's syntax trees, for the checks that read them

Not shipped in the wheel: fastauthz/ never imports it.
"""
