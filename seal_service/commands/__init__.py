"""Subcommands of ``seal-service`` by feature area; each module has ``register(sub, seals_sub)``."""
