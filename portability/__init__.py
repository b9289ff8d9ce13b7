"""Taking an account's writing out of Inkwell and bringing writing in: the archive
format (README, "Export format") is shared by both directions. `front_matter` reads and
writes a post file's YAML header, `export` writes the zip as it streams."""
