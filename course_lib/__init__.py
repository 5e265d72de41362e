"""Helper library of the course on customizing large language models."""
