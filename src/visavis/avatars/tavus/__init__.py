"""Tavus CVI: echo-mode conversations that say our sentences (Daily media)."""
