# The same authorizer function behind a REST API (TOKEN authorizer) and an HTTP API (payload 2.0,
# IAM policy answers), beside the WebSocket API of main.tf: rest_and_http_apis = true (off by
# default). For HTTP API simple responses, set enable_simple_responses = true below AND
# FASTAUTHZ_HTTP_SIMPLE_RESPONSES = "true" in environment (make deploy-check refuses one without
# the other: the event cannot tell which answer is expected).

locals {
  fronts = var.rest_and_http_apis ? 1 : 0
}

resource "aws_api_gateway_rest_api" "rest" {
  count = local.fronts

  name = "fastauthz-rest-${var.stage_name}"
}

resource "aws_api_gateway_resource" "messages" {
  count = local.fronts

  rest_api_id = aws_api_gateway_rest_api.rest[0].id
  parent_id   = aws_api_gateway_rest_api.rest[0].root_resource_id
  path_part   = "messages"
}

# A TOKEN authorizer: API Gateway reads the Authorization header and caches the answer by it for
# 300 s, reused for every method and resource of the stage: fastauthz's Allow covers them all.
resource "aws_api_gateway_authorizer" "fastauthz" {
  count = local.fronts

  rest_api_id                      = aws_api_gateway_rest_api.rest[0].id
  name                             = "fastauthz"
  type                             = "TOKEN"
  identity_source                  = "method.request.header.Authorization"
  authorizer_uri                   = aws_lambda_function.authorizer.invoke_arn
  authorizer_result_ttl_in_seconds = 300
}

resource "aws_api_gateway_method" "get_messages" {
  count = local.fronts

  rest_api_id   = aws_api_gateway_rest_api.rest[0].id
  resource_id   = aws_api_gateway_resource.messages[0].id
  http_method   = "GET"
  authorization = "CUSTOM"
  authorizer_id = aws_api_gateway_authorizer.fastauthz[0].id
}

resource "aws_api_gateway_integration" "get_messages" {
  count = local.fronts

  rest_api_id = aws_api_gateway_rest_api.rest[0].id
  resource_id = aws_api_gateway_resource.messages[0].id
  http_method = aws_api_gateway_method.get_messages[0].http_method
  type        = "MOCK"
  request_templates = {
    "application/json" = jsonencode({ statusCode = 200 })
  }
}

resource "aws_api_gateway_deployment" "rest" {
  count = local.fronts

  rest_api_id = aws_api_gateway_rest_api.rest[0].id
  depends_on  = [aws_api_gateway_integration.get_messages]
}

resource "aws_api_gateway_stage" "rest" {
  count = local.fronts

  rest_api_id   = aws_api_gateway_rest_api.rest[0].id
  deployment_id = aws_api_gateway_deployment.rest[0].id
  stage_name    = var.stage_name
}

resource "aws_apigatewayv2_api" "http" {
  count = local.fronts

  name          = "fastauthz-http-${var.stage_name}"
  protocol_type = "HTTP"
}

resource "aws_apigatewayv2_authorizer" "http" {
  count = local.fronts

  api_id                            = aws_apigatewayv2_api.http[0].id
  name                              = "fastauthz"
  authorizer_type                   = "REQUEST"
  authorizer_uri                    = aws_lambda_function.authorizer.invoke_arn
  authorizer_payload_format_version = "2.0"
  enable_simple_responses           = false
  identity_sources                  = ["$request.header.Authorization"]
  authorizer_result_ttl_in_seconds  = 300
}

resource "aws_apigatewayv2_route" "http_messages" {
  count = local.fronts

  api_id             = aws_apigatewayv2_api.http[0].id
  route_key          = "ANY /messages"
  authorization_type = "CUSTOM"
  authorizer_id      = aws_apigatewayv2_authorizer.http[0].id
}

resource "aws_apigatewayv2_stage" "http" {
  count = local.fronts

  api_id      = aws_apigatewayv2_api.http[0].id
  name        = var.stage_name
  auto_deploy = true
}

# API Gateway may invoke the function as these APIs' authorizers, and as nothing else.
resource "aws_lambda_permission" "rest_authorizer" {
  count = local.fronts

  statement_id  = "AllowRestApiAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.authorizer.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.rest[0].execution_arn}/authorizers/${aws_api_gateway_authorizer.fastauthz[0].id}"
}

resource "aws_lambda_permission" "http_authorizer" {
  count = local.fronts

  statement_id  = "AllowHttpApiAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.authorizer.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.http[0].execution_arn}/authorizers/${aws_apigatewayv2_authorizer.http[0].id}"
}
