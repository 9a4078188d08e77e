"""Running the project's Meltano jobs under an orchestrator (optional: `pip install -e '.[orchestrator]'`)."""
