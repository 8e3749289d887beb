"""Avatar providers behind one small interface: local, HeyGen, Akool."""
