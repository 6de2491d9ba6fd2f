"""A signed webhook whose handler posts a message on RoostedHR."""
