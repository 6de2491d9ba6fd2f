"""Small, runnable chatwright examples, one idea each. Run them from the repository root (see each README)."""
