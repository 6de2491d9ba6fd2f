"""The testing kit for plugin authors (filled in by the bots issue)."""
