"""Diagnostics (CONTRACT 12): one `.tar.gz` with what a technician would look at on the pile,
uploaded where the backend says (HTTP PUT or POST, FTP), tried at most `TRIES` times.

The archive holds the recent log, the checks of the selftest that move nothing (no relay or
lock is moved at a remote request), `pilectl status --json`, the config with every secret
replaced by `"***"`, and the journal's events not yet delivered. Key files are never read.
Runs on a worker thread: nothing here touches the loop."""

from __future__ import annotations

import ftplib
import io
import json
import re
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

TRIES = 3
TIMEOUT_S = 30.0
# A config key whose value is a secret, in a table or inline: the broker's password, a token.
# File paths (`password_file`, `key_file`, tls `key`) name secrets and are kept; the files are
# never read.
SECRET = re.compile(r"((?:password|secret|token|passphrase)\s*=\s*)(\"[^\"]*\"|'[^']*')", re.I)


@dataclass(frozen=True)
class Contents:
    """What goes into the archive, gathered on the loop."""

    log: list[str]
    checks: list[dict[str, Any]]
    status: dict[str, Any]
    events: list[str]


def redacted(config_text: str) -> str:
    """The config as written, every secret's value replaced by "***"."""
    return SECRET.sub(lambda m: f'{m.group(1)}"***"', config_text)


def archive(config: Path, contents: Contents, name: str) -> bytes:
    files = {
        "log.txt": "\n".join(contents.log) + "\n",
        "selftest.json": json.dumps(contents.checks, indent=1),
        "status.json": json.dumps(contents.status, indent=1),
        "config.toml": redacted(config.read_text(encoding="utf-8", errors="replace")),
        "events.jsonl": "".join(e + "\n" for e in contents.events),
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for file, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}/{file}")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def upload(url: str, data: bytes, name: str, sleep: Callable[[float], None] = time.sleep) -> None:
    """Uploads `data` as `name` to `url`, tried `TRIES` times; raises UploadError saying why
    the last try failed."""
    why = ""
    for attempt in range(1, TRIES + 1):
        try:
            send(url, data, name)
            return
        except UploadError as exc:
            why = str(exc)
        if attempt < TRIES:
            sleep(2.0 * attempt)
    raise UploadError(f"{why} ({TRIES} tries)")


class UploadError(Exception):
    pass


def send(url: str, data: bytes, name: str) -> None:
    parts = urlsplit(url)
    try:
        if parts.scheme in ("http", "https"):
            # A url that names a folder gets the file's name; one that names a file is used as is.
            target = url + name if parts.path.endswith("/") else url
            method = "POST" if "post" in parts.query.lower().split("=") else "PUT"
            request = urllib.request.Request(target, data=data, method=method)
            request.add_header("Content-Type", "application/gzip")
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                if answer.status >= 300:
                    raise UploadError(f"HTTP {answer.status}")
        elif parts.scheme == "ftp":
            with ftplib.FTP(timeout=TIMEOUT_S) as ftp:
                ftp.connect(parts.hostname or "", parts.port or 21)
                ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or ""))
                folder = parts.path if parts.path.endswith("/") else parts.path.rsplit("/", 1)[0]
                file = name if parts.path.endswith("/") else parts.path.rsplit("/", 1)[-1]
                if folder.strip("/"):
                    ftp.cwd(folder)
                ftp.storbinary(f"STOR {file}", io.BytesIO(data))
        else:
            raise UploadError(f"cannot upload to a {parts.scheme or 'schemeless'} url")
    except UploadError:
        raise
    except urllib.error.HTTPError as exc:
        raise UploadError(f"HTTP {exc.code} from {parts.hostname}") from None
    except (OSError, ftplib.Error, ValueError) as exc:
        raise UploadError(f"{parts.hostname or url}: {exc}") from None
