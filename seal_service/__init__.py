"""The one-seal service: electronic approval seals and PAdES-sealed licences."""

__version__ = "0.1.0"
