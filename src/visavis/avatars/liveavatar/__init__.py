"""LiveAvatar (HeyGen's real-time avatars): LITE (our voice) and FULL (their voice) modes."""
