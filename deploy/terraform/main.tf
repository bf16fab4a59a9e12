# fastauthz: a WebSocket API whose $connect is authorized by a JWT REQUEST authorizer, with the
# connection-lifetime functions around it (lifetime.tf) and, optionally, REST and HTTP APIs behind
# the same function (rest_http.tf). Code: make package PYTHON_VERSION=3.12 (the function zip), or a
# published layer (layer_arn). Providers are configured by the caller: see examples/.

locals {
  # Resolved from this module, not from the working directory.
  package = var.package != "" ? var.package : "${path.module}/../../dist/fastauthz-lambda-${var.architecture}-py${var.python_version}.zip"
  runtime = "python${var.python_version}"
  # From a layer, the function's own code is a stub: the handlers import fastauthz from /opt/python.
  code      = var.layer_arn != "" ? data.archive_file.layer_stub.output_path : local.package
  code_hash = var.layer_arn != "" ? data.archive_file.layer_stub.output_base64sha256 : filebase64sha256(local.package)
  layers    = var.layer_arn != "" ? [var.layer_arn] : []
  # The authorizer's configuration; the re-auth function verifies new tokens with the same.
  authorizer_settings = {
    JWT_ISSUER_JWKS_URI      = var.jwks_uri
    JWT_ISSUER               = var.issuer
    JWT_AUTHORIZED_AUDIENCES = var.audiences
    JWT_TOKEN_SOURCES        = "header,query,protocol"
  }
  authorizer_environment = merge(local.authorizer_settings, var.environment)
}

data "archive_file" "layer_stub" {
  type                    = "zip"
  source_content          = "fastauthz runs from its layer (/opt/python)\n"
  source_content_filename = "FROM_LAYER.txt"
  output_path             = "${path.module}/.build/layer-stub.zip"
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

# The authorizer's role: logs, nothing else (it reads no table and closes no connection).
resource "aws_iam_role" "authorizer" {
  name_prefix        = "fastauthz-authorizer-"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy_attachment" "authorizer_logs" {
  role       = aws_iam_role.authorizer.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_lambda_function" "authorizer" {
  function_name    = "fastauthz-authorizer-${var.stage_name}" # a second stage in the account does not collide
  filename         = local.code
  source_code_hash = local.code_hash
  layers           = local.layers
  handler          = "fastauthz.handler.handler"
  runtime          = local.runtime
  architectures    = [var.architecture]
  memory_size      = 512 # CPU scales with memory
  timeout          = 5
  role             = aws_iam_role.authorizer.arn
  environment {
    variables = local.authorizer_environment
  }
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

resource "aws_apigatewayv2_stage" "stage" {
  api_id      = aws_apigatewayv2_api.websocket.id
  name        = var.stage_name
  auto_deploy = true
}
