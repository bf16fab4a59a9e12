# Connections that end when their token does (README): the registry of open connections, the
# $connect / $disconnect / reauth integrations and the sweeper, all from the authorizer's code
# (fastauthz.connections; boto3 comes with Lambda's Python runtime). The table is always there;
# end_connections_with_tokens = false only stops the sweeper's schedule.

locals {
  # https://<api>.execute-api.<region>.amazonaws.com/<stage>: where the sweeper and re-auth close and answer
  management_endpoint = "${replace(aws_apigatewayv2_api.websocket.api_endpoint, "wss://", "https://")}/${var.stage_name}"
  # execute-api:ManageConnections on this API's stage only: POST (a re-auth's answer) and DELETE (a close)
  connections_arn = "${aws_apigatewayv2_api.websocket.execution_arn}/${var.stage_name}/*/@connections/*"
  # The integrations of the WebSocket routes: key -> handler
  connection_routes = {
    "$connect"    = "fastauthz.connections.on_connect"
    "$disconnect" = "fastauthz.connections.on_disconnect"
    "reauth"      = "fastauthz.connections.on_reauth"
  }
}

resource "aws_dynamodb_table" "connections" {
  name         = "fastauthz-connections-${var.stage_name}"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "connectionId"

  attribute {
    name = "connectionId"
    type = "S"
  }
  attribute {
    name = "bucket"
    type = "S"
  }
  attribute {
    name = "deadline"
    type = "N"
  }
  attribute {
    name = "sub"
    type = "S"
  }

  # The sweeper reads only what is due, by the minute of the deadline: no scan.
  global_secondary_index {
    name            = "by-deadline"
    hash_key        = "bucket"
    range_key       = "deadline"
    projection_type = "ALL"
  }

  # Sign-out: every connection of a user.
  global_secondary_index {
    name            = "by-sub"
    hash_key        = "sub"
    projection_type = "KEYS_ONLY"
  }

  # Rows a lost $disconnect left behind clean themselves up.
  ttl {
    attribute_name = "ttl"
    enabled        = true
  }
}

resource "aws_iam_role" "connections" {
  name_prefix        = "fastauthz-connections-"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy_attachment" "connections_logs" {
  role       = aws_iam_role.connections.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

data "aws_iam_policy_document" "connections" {
  statement {
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.connections.arn, "${aws_dynamodb_table.connections.arn}/index/*"]
  }
  statement {
    actions   = ["execute-api:ManageConnections"]
    resources = [local.connections_arn]
  }
}

resource "aws_iam_role_policy" "connections" {
  name   = "fastauthz-connections"
  role   = aws_iam_role.connections.id
  policy = data.aws_iam_policy_document.connections.json
}

resource "aws_lambda_function" "connections" {
  for_each = merge(local.connection_routes, { sweeper = "fastauthz.connections.sweeper" })

  function_name    = "fastauthz-${trimprefix(each.key, "$")}-${var.stage_name}"
  filename         = local.code
  source_code_hash = local.code_hash
  layers           = local.layers
  handler          = each.value
  runtime          = local.runtime
  architectures    = [var.architecture]
  # re-auth verifies a signature; the sweeper closes 530-1,100 connections/s on 1 vCPU (1769 MB;
  # bench/sweep_rate.py: 0.9-1.9 ms of CPU a close); the others write a row
  memory_size = lookup({ reauth = 512, sweeper = 1769 }, each.key, 128)
  timeout     = each.key == "sweeper" ? 60 : 5
  role        = aws_iam_role.connections.arn
  environment {
    variables = merge(
      { FASTAUTHZ_CONNECTIONS_TABLE = aws_dynamodb_table.connections.name, FASTAUTHZ_MANAGEMENT_ENDPOINT = local.management_endpoint },
      each.key == "reauth" ? local.authorizer_environment : {},
    )
  }
}

resource "aws_apigatewayv2_integration" "connections" {
  for_each = local.connection_routes

  api_id           = aws_apigatewayv2_api.websocket.id
  integration_type = "AWS_PROXY"
  integration_uri  = aws_lambda_function.connections[each.key].invoke_arn
}

resource "aws_lambda_permission" "connections" {
  for_each = local.connection_routes

  statement_id  = "AllowApiGatewayRoute"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.connections[each.key].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.websocket.execution_arn}/*/${each.key}"
}

# The authorizer guards $connect only (the one route API Gateway authorizes on a WebSocket API).
resource "aws_apigatewayv2_route" "connect" {
  api_id             = aws_apigatewayv2_api.websocket.id
  route_key          = "$connect"
  authorization_type = "CUSTOM"
  authorizer_id      = aws_apigatewayv2_authorizer.fastauthz.id
  target             = "integrations/${aws_apigatewayv2_integration.connections["$connect"].id}"
}

resource "aws_apigatewayv2_route" "disconnect" {
  api_id    = aws_apigatewayv2_api.websocket.id
  route_key = "$disconnect"
  target    = "integrations/${aws_apigatewayv2_integration.connections["$disconnect"].id}"
}

resource "aws_apigatewayv2_route" "reauth" {
  api_id    = aws_apigatewayv2_api.websocket.id
  route_key = "reauth"
  target    = "integrations/${aws_apigatewayv2_integration.connections["reauth"].id}"
}

resource "aws_cloudwatch_event_rule" "sweeper" {
  name                = "fastauthz-sweeper-${var.stage_name}"
  description         = "Close the connections whose token has expired (fastauthz.connections.sweeper)"
  schedule_expression = "rate(1 minute)"
  state               = var.end_connections_with_tokens ? "ENABLED" : "DISABLED"
}

resource "aws_cloudwatch_event_target" "sweeper" {
  rule = aws_cloudwatch_event_rule.sweeper.name
  arn  = aws_lambda_function.connections["sweeper"].arn
}

resource "aws_lambda_permission" "sweeper" {
  statement_id  = "AllowScheduledSweep"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.connections["sweeper"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweeper.arn
}
