"""pytest plugin entry point of the testing kit."""
