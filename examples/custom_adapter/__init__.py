"""A custom adapter for Pigeon, an imaginary chat provider, with its own emulator."""
