"""Vendor-agnostic machinery shared by every vendor: config, windows, HTTP, parsing, the cohort stream."""
