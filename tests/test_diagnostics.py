"""The diagnostics archive's pure parts: every secret of a config replaced, its paths kept;
an upload tried three times, saying why the last failed."""

from __future__ import annotations

import pytest

from pile_controller.fleet import diagnostics


def test_every_secret_is_replaced_and_every_path_kept() -> None:
    text = (
        '[backend]\nusername = "pile"\npassword = "s3cret"\n'
        'tls = { ca = "/etc/ca.pem", key = "/etc/pile.key" }\n'
        '[ocpp]\npassword_file = "/etc/pw"\nx = { token = \'abc\', Secret = "def" }\n'
    )
    out = diagnostics.redacted(text)
    for secret in ("s3cret", "abc", "def"):
        assert secret not in out
    assert 'password = "***"' in out and 'token = "***"' in out
    assert '"/etc/pile.key"' in out and 'password_file = "/etc/pw"' in out


def test_an_upload_is_tried_three_times_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    tries: list[str] = []

    def refuse(url: str, data: bytes, name: str) -> None:
        tries.append(url)
        raise diagnostics.UploadError("HTTP 503 from example.com")

    monkeypatch.setattr(diagnostics, "send", refuse)
    waits: list[float] = []
    with pytest.raises(diagnostics.UploadError, match=r"HTTP 503 from example.com \(3 tries\)"):
        diagnostics.upload("http://example.com/", b"x", "a.tar.gz", sleep=waits.append)
    assert len(tries) == 3 and waits == [2.0, 4.0]


def test_a_url_the_pile_cannot_upload_to_is_said() -> None:
    with pytest.raises(diagnostics.UploadError, match="cannot upload to a gopher url"):
        diagnostics.send("gopher://x/", b"", "a")
