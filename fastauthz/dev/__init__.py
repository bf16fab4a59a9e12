"""Developer tooling (dev issuer, demo, local stage). Never imported by the Lambda handler."""
