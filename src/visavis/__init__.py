"""Visavis: self-hosted real-time conversational AI avatars."""

__version__ = "0.1.0"
