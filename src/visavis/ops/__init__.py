"""Operations: background jobs (the orphan sweeper), metrics, analytics."""
