"""Voice profiles: the recordings a cloned voice is made from, and their validation."""
