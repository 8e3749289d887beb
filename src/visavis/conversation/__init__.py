"""The live conversation: agent → sentences → voice/avatar, interruption, transcripts."""
