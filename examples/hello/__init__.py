"""The smallest bot: one handler that greets."""
