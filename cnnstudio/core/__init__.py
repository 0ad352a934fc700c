"""The product's logic. Imports no Qt (an import-linter contract checks it)."""
