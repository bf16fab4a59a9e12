output "websocket_url" {
  description = "wss://<api>.execute-api.<region>.amazonaws.com/<stage>"
  value       = aws_apigatewayv2_stage.stage.invoke_url
}

output "management_endpoint" {
  description = "The stage's @connections endpoint (fastauthz disconnect --endpoint, FASTAUTHZ_MANAGEMENT_ENDPOINT)"
  value       = local.management_endpoint
}

output "connections_table" {
  description = "The registry of open connections (FASTAUTHZ_CONNECTIONS_TABLE)"
  value       = aws_dynamodb_table.connections.name
}

output "authorizer_function" {
  description = "The authorizer's function name"
  value       = aws_lambda_function.authorizer.function_name
}

output "rest_url" {
  description = "The REST API route behind the same authorizer (rest_and_http_apis)"
  value       = var.rest_and_http_apis ? "${aws_api_gateway_stage.rest[0].invoke_url}/messages" : null
}

output "http_url" {
  description = "The HTTP API route behind the same authorizer (rest_and_http_apis)"
  value       = var.rest_and_http_apis ? "${aws_apigatewayv2_stage.http[0].invoke_url}/messages" : null
}
