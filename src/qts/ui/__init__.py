"""The operator's web dashboard: a view of the books, served live over HTTP."""
