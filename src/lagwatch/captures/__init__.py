"""Captured tool output turned into lagwatch's model: parsed samples (lagwatch.parsers) become
ProcessSamples with the rates the tool measured, and Snapshots that lagwatch.ranking ranks exactly
as it ranks live readings (`lagwatch analyze`, and the `top`/`powermetrics` sources)."""
