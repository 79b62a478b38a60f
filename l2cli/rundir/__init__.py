"""The run directory: the Run type, each file's schema and checks, the manifest, the journal of a run in
progress, and the table formats."""
