"""Akool Live Avatar: HTTP client, data-stream messages and provider."""
