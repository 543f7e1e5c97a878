"""Helpers shared by the tests; fixtures are in tests/conftest.py. No test module imports another
(tests/test_imports.py checks): what two of them share lives here, in a module named for what it owns.

    waiting       wait_for (a condition within a time limit), alive (a pid)
    processes     servers the tests start die with pytest and stop in order
    vj_process    `vj` as a user runs it: the command, `vj run`, its log as it comes
    display       the test X display: its screen, the vj window, keys, screenshots
    jack          private JACK servers and the ports on them
    capture       waiting on vj's audio input's status
    audio_player  a JACK client process that plays a file into vj (python -m tests.support.audio_player)
    midi_peer     a MIDI controller process on JACK, and MidiPeer driving it (python -m tests.support.midi_peer)
    synth         test signals with known truth: clicks, tones, drum grooves
    video         a real video file for camera tests
    generators    small generator backends standing in for a GPU model
    children      tiny supervised children and a handler recording what they say
    engine        a mapping engine from mapping text, and a sink recording its actions
    osc           a free UDP port; show frames until what OSC sent has arrived
    show          a headless show on a real GL context
    hub           a Hugging Face cache of a test's own
"""
