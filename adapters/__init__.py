"""Provider adapters: one sub-package per provider, each a typed client, the unified provider and an emulator."""
