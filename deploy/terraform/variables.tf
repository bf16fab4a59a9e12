variable "jwks_uri" {
  type        = string
  description = "JWT_ISSUER_JWKS_URI: the issuer's key set, e.g. https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json"
}

variable "issuer" {
  type        = string
  default     = ""
  description = "JWT_ISSUER (exact iss); empty to derive it from a Cognito/Okta/Auth0/OIDC JWKS URI"
}

variable "audiences" {
  type        = string
  description = "JWT_AUTHORIZED_AUDIENCES, comma separated (Cognito app client ids match access tokens' client_id)"
}

variable "environment" {
  type        = map(string)
  default     = {}
  description = "More of the authorizer's settings (README, Configuration), e.g. { JWT_ALLOWED_ORIGINS = \"https://app.example.com\" }; the re-auth function gets them too"
}

variable "python_version" {
  type        = string
  default     = "3.12"
  description = "Lambda runtime python<version>; build its zip with make package PYTHON_VERSION=<version>"
}

variable "architecture" {
  type        = string
  default     = "arm64"
  description = "arm64 or x86_64; the zip must be built for it (make package ARCH=...)"
  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture: arm64 or x86_64."
  }
}

variable "package" {
  type        = string
  default     = ""
  description = "The function zip; default: the one make package builds for python_version and architecture. Ignored with layer_arn"
}

variable "layer_arn" {
  type        = string
  default     = ""
  description = "A published fastauthz layer (make layer, README Deploy) to run from instead of the function zip"
}

variable "stage_name" {
  type        = string
  default     = "prod"
  description = "The WebSocket stage; function and API names carry it, so several stages live side by side"
}

variable "end_connections_with_tokens" {
  type        = bool
  default     = true
  description = "Close each connection when its token expires (the sweeper, every minute). false keeps the registry and re-auth but stops the sweeper"
}

variable "rest_and_http_apis" {
  type        = bool
  default     = false
  description = "Also put the authorizer in front of a REST API (TOKEN) and an HTTP API (payload 2.0)"
}
