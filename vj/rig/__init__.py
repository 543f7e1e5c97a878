"""Sharing with the rest of the rig: video outputs (NDI, virtual cameras, recording), NDI in,
Ableton Link and MIDI clock out, and generator nodes on other machines."""
