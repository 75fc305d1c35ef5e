"""The append-only, hash-chained audit trail: recording events, verifying the chain, the log pages."""
