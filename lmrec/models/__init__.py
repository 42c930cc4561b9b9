"""Built-in models; importing this package registers them."""
