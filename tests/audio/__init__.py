"""Tests of live audio: capture, analysis and the show's audio features."""
