"""Live audio: capture, analysis (features, onsets, beat) and offline analysis of audio files."""
