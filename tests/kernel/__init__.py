"""Tests of the kernel: errors, keys, crypto, keystore."""
