"""Calibrate platform profiles on harness records and validate predictions against them."""
