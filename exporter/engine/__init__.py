"""The poll engine: one task per target, immutable snapshots swapped atomically."""
