"""HeyGen Streaming (Interactive Avatar): HTTP client and provider."""
