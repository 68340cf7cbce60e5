"""Simulators of the vendor APIs and the demo fleet built from them.

Shipped in the same distribution as `exporter` so that `powerstrip-exporter demo` and
`simulate` work from a plain install, but kept out of the exporter's own packages: the
running exporter never imports this package. Only the command line reaches it, and only
when one of those two commands is asked for (see docs/architecture.md).
"""
