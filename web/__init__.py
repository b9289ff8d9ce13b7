"""The web layer's machinery: middleware, the page cache, hot reads, the in-place
SQLite connection, templating."""
