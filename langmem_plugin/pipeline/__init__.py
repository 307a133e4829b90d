"""The add/search pipeline as plain functions over typed records."""
