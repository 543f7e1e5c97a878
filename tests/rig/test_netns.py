"""The test helper that keeps multicast discovery (NDI, Link) inside a loopback-only namespace."""

from tests.support.netns import isolated, isolated_python


def test_the_namespace_holds_only_loopback_and_it_is_up():
    done = isolated(["ip", "-o", "link"])
    assert done.returncode == 0, done.stderr
    links = [line.split(":")[1].strip() for line in done.stdout.splitlines()]
    assert links == ["lo"] and "UP" in done.stdout


def test_a_script_in_the_namespace_reaches_loopback_and_nothing_else():
    script = """
import json, socket
ok = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ok.bind(("127.0.0.1", 0))
ok.sendto(b"x", ok.getsockname())
loop = ok.recv(1) == b"x"
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    out.sendto(b"x", ("8.8.8.8", 53))
    leaked = True
except OSError:
    leaked = False
print(json.dumps({"loopback": loop, "leaked": leaked}))
"""
    assert isolated_python(script) == {"loopback": True, "leaked": False}
