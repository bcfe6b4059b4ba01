"""Client package for the Comet provisioning service: generated stubs and a typed asyncio client."""
