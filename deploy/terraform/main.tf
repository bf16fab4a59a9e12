# A WebSocket API whose $connect is authorized by fastauthz (JWT REQUEST authorizer).
# Build the code first: make package PYTHON_VERSION=3.12  ->  dist/fastauthz-lambda-arm64-py3.12.zip

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws     = { source = "hashicorp/aws", version = ">= 5.0" }
    archive = { source = "hashicorp/archive", version = ">= 2.4" }
  }
}

variable "jwks_uri" {
  type        = string
  description = "JWT_ISSUER_JWKS_URI"
}

variable "issuer" {
  type        = string
  default     = ""
  description = "JWT_ISSUER (exact iss); empty to derive it from a Cognito/Okta/Auth0/OIDC JWKS URI"
}

variable "audiences" {
  type        = string
  description = "JWT_AUTHORIZED_AUDIENCES, comma separated"
}

variable "region" {
  type        = string
  description = "AWS region to deploy to, e.g. eu-west-1"
}

variable "python_version" {
  type        = string
  default     = "3.12"
  description = "Lambda runtime python<version>; build its zip with make package PYTHON_VERSION=<version>"
}

variable "architecture" {
  type    = string
  default = "arm64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture: arm64 or x86_64."
  }
}

variable "package" {
  type        = string
  default     = ""
  description = "The authorizer's zip; default: the one make package builds for python_version and architecture"
}

variable "stage_name" {
  type    = string
  default = "prod"
}

provider "aws" {
  region = var.region
}

locals {
  # Resolved from this module, like the connect function's source, not from the working directory.
  package = var.package != "" ? var.package : "${path.module}/../../dist/fastauthz-lambda-${var.architecture}-py${var.python_version}.zip"
  runtime = "python${var.python_version}"
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "functions" {
  name_prefix        = "fastauthz-"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy_attachment" "logs" {
  role       = aws_iam_role.functions.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_lambda_function" "authorizer" {
  function_name    = "fastauthz-authorizer-${var.stage_name}" # a second stage in the account does not collide
  filename         = local.package
  source_code_hash = filebase64sha256(local.package)
  handler          = "fastauthz.handler.handler"
  runtime          = local.runtime
  architectures    = [var.architecture]
  memory_size      = 512 # CPU scales with memory
  timeout          = 5
  role             = aws_iam_role.functions.arn
  environment {
    variables = {
      JWT_ISSUER_JWKS_URI      = var.jwks_uri
      JWT_ISSUER               = var.issuer
      JWT_AUTHORIZED_AUDIENCES = var.audiences
      JWT_TOKEN_SOURCES        = "header,query,protocol"
    }
  }
}

data "archive_file" "connect" {
  type        = "zip"
  source_file = "${path.module}/../functions/connect.py"
  output_path = "${path.module}/.build/connect.zip"
}

resource "aws_lambda_function" "connect" {
  function_name    = "fastauthz-connect-${var.stage_name}"
  filename         = data.archive_file.connect.output_path
  source_code_hash = data.archive_file.connect.output_base64sha256
  handler          = "connect.handler"
  runtime          = local.runtime
  architectures    = [var.architecture]
  timeout          = 3
  role             = aws_iam_role.functions.arn
}

resource "aws_apigatewayv2_api" "websocket" {
  name                       = "fastauthz-websocket-${var.stage_name}"
  protocol_type              = "WEBSOCKET"
  route_selection_expression = "$request.body.action"
}

# REQUEST is the only authorizer type a WebSocket API takes, and only on $connect. No identity
# sources: the token may arrive in a header, the query string or the subprotocol list, and a
# missing identity source is a 401 before the authorizer runs. No result TTL: WebSocket APIs
# refuse authorizer caching.
resource "aws_apigatewayv2_authorizer" "fastauthz" {
  api_id          = aws_apigatewayv2_api.websocket.id
  name            = "fastauthz"
  authorizer_type = "REQUEST"
  authorizer_uri  = aws_lambda_function.authorizer.invoke_arn
}

resource "aws_lambda_permission" "authorizer" {
  statement_id  = "AllowApiGatewayAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.authorizer.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.websocket.execution_arn}/authorizers/${aws_apigatewayv2_authorizer.fastauthz.id}"
}

resource "aws_apigatewayv2_integration" "connect" {
  api_id           = aws_apigatewayv2_api.websocket.id
  integration_type = "AWS_PROXY"
  integration_uri  = aws_lambda_function.connect.invoke_arn
}

resource "aws_lambda_permission" "connect" {
  statement_id  = "AllowApiGatewayConnect"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.connect.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.websocket.execution_arn}/*/$connect"
}

resource "aws_apigatewayv2_route" "connect" {
  api_id             = aws_apigatewayv2_api.websocket.id
  route_key          = "$connect"
  authorization_type = "CUSTOM"
  authorizer_id      = aws_apigatewayv2_authorizer.fastauthz.id
  target             = "integrations/${aws_apigatewayv2_integration.connect.id}"
}

resource "aws_apigatewayv2_stage" "stage" {
  api_id      = aws_apigatewayv2_api.websocket.id
  name        = var.stage_name
  auto_deploy = true
}

output "websocket_url" {
  value = aws_apigatewayv2_stage.stage.invoke_url
}
