"""Comet provisioning service: an asyncio gRPC service that manages Comet Backup accounts."""
