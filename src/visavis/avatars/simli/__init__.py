"""Simli: an audio-driven face (our voice, 16 kHz PCM16 over its WebSocket; LiveKit media)."""
