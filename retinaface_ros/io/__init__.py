"""Reading and writing files: image files, atomic outputs."""
