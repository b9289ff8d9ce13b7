"""Taking an account's writing out of Inkwell and bringing writing in: the archive
format (README, "The export format") is shared by both directions. `front_matter` reads
and writes a post file's YAML header, `export` writes the zip as it streams, `importing`
reads an archive (Inkwell's own, or other tools' Markdown) into posts."""
