"""Lip-sync: mouth cues (Rhubarb shapes A–H/X, Oculus visemes, ARKit weights) for speech."""

from visavis.speech.lipsync.animator import LipSyncStream, animate
from visavis.speech.lipsync.track import MouthCue, VisemeTrack

__all__ = ["LipSyncStream", "MouthCue", "VisemeTrack", "animate"]
