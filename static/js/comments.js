// The comments under a post: what depends on who reads (filled in by the next change).
