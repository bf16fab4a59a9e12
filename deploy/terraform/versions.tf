terraform {
  required_version = ">= 1.5"
  required_providers {
    # 5.30: aws_cloudwatch_event_rule's `state` (the sweeper's schedule, on or off)
    aws     = { source = "hashicorp/aws", version = ">= 5.30" }
    archive = { source = "hashicorp/archive", version = ">= 2.4" } # the stub code of a function run from a layer
  }
}
