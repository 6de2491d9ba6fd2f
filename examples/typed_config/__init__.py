"""A plugin with a typed config section, structured from `[plugins.welcome]`."""
