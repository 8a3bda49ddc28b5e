"""Coverage-guided fuzzing (atheris) of every entry point that reads untrusted bytes; see tests/fuzz/README.md."""
