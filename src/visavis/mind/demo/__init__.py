"""Maya Okafor, the demo twin: an invented person, her facts (JSONL) and stories (Markdown)."""
