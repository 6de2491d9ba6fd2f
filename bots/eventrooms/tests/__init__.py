"""End-to-end tests of the eventrooms bot against the GroupAlarm emulator."""
