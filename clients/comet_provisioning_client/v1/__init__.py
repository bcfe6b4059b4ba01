"""Generated from proto/comet/provisioning/v1. Do not edit."""
