"""Offline speech: text-to-speech engines and lip-sync (mouth shapes from audio and text)."""
