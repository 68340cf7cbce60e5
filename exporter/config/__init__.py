"""Configuration: strict YAML schema, secrets, and errors that name the YAML path."""
