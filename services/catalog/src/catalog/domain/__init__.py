"""The catalog's domain: products, validation, selection, screening, stock. Pure Python."""
