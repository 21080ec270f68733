"""The recording daemon: sampling loop, pause detection, rogue episodes, ring buffer."""
