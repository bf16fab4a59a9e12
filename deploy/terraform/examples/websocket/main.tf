# A WebSocket API authorized by fastauthz, its connections ending with their tokens.
#   make package                       (dist/fastauthz-lambda-arm64-py3.12.zip)
#   terraform -chdir=deploy/terraform/examples/websocket init
#   terraform -chdir=deploy/terraform/examples/websocket apply -var region=eu-west-1 \
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

  jwks_uri  = var.jwks_uri
  audiences = var.audiences
  # Also: architecture = "x86_64", python_version = "3.13", stage_name = "dev", layer_arn = "arn:aws:lambda:...",
  # environment = { JWT_ALLOWED_ORIGINS = "https://app.example.com" }, end_connections_with_tokens = false
}

output "websocket_url" {
  value = module.fastauthz.websocket_url
}

output "management_endpoint" {
  value = module.fastauthz.management_endpoint
}
