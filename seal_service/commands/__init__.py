"""Subcommands of ``seal-service`` by feature area; each module has ``register(sub, seals_sub)``."""

from __future__ import annotations

import argparse


def command_group(sub: argparse._SubParsersAction, name: str, *, help: str, dest: str) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """The subcommands of the command ``name``, made on first use, so that several feature modules can add to one
    group (``licences get`` from documents, ``licences show|pdf`` from archive)."""
    parser = sub.choices.get(name)
    if parser is None:
        return sub.add_parser(name, help=help).add_subparsers(dest=dest, required=True)
    existing = parser._subparsers._group_actions[0]  # the group's own sub-parsers action
    assert isinstance(existing, argparse._SubParsersAction)
    return existing
