"""Twin memory: facts, stories, query history, and hybrid retrieval over them."""
