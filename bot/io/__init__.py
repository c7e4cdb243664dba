"""Import and export of patents in the standard formats (docs/IMPORT_FORMAT.md, docs/EXPORT_FORMAT.md)."""
