"""Ready-to-deploy bots built on chatwright, each a plugin package with its bot.toml."""
