"""End-to-end tests of the shiftchat bot against the RoostedHR emulator."""
