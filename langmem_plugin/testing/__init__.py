"""Test support for langmem-plugin and the backends written for it (see the modules)."""
