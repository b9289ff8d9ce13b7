"""Posts' content: Markdown, feeds, and keyset pagination."""
