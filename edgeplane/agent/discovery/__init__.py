"""Device discovery, one module per protocol."""
