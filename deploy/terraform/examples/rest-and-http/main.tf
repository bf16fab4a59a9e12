# The same authorizer in front of a WebSocket API, a REST API (TOKEN) and an HTTP API (payload 2.0).
#   make package
#   terraform -chdir=deploy/terraform/examples/rest-and-http init
#   terraform -chdir=deploy/terraform/examples/rest-and-http apply -var region=eu-west-1 \
#       -var jwks_uri=https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123/.well-known/jwks.json \
#       -var audiences=3n4b5urk1ft4fl3mg5e62d9ado

variable "region" {
  type        = string
  description = "AWS region to deploy to, e.g. eu-west-1 (no default, on purpose)"
}

variable "jwks_uri" {
  type        = string
  description = "The issuer's JWKS URI"
}

variable "audiences" {
  type        = string
  description = "Accepted audiences, comma separated"
}

provider "aws" {
  region = var.region
}

module "fastauthz" {
  source = "../.."

  jwks_uri           = var.jwks_uri
  audiences          = var.audiences
  rest_and_http_apis = true
}

output "rest_url" {
  value = module.fastauthz.rest_url
}

output "http_url" {
  value = module.fastauthz.http_url
}

output "websocket_url" {
  value = module.fastauthz.websocket_url
}
