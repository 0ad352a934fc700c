"""GUI pieces shared by several sections (a section's own widgets stay in its package)."""
