"""A handler that keeps state between events: counting alerts and de-duplicating them per key."""
