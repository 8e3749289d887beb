"""Operations: background jobs (the sweeper of orphaned provider sessions)."""
