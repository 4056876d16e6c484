"""labloop driver SDK for Python: one file, stdlib + pyzmq only.

Implements labloop wire protocol v1 (docs/protocol.md) on the driver side:

    class MyInstrument(Driver):
        def describe(self) -> dict:
            return {"driver": "my-hplc", "version": "1.2.0",
                    "inputs": [{"name": "temp", "type": "continuous", "low": 20, "high": 80}],
                    "outputs": ["yield"], "capacity": 1}

        def run(self, params: dict, stop: threading.Event) -> dict:
            ...                       # drive the hardware; poll `stop` to abort early
            return {"yield": 0.42}    # raise an exception to report status "failed"

    serve(MyInstrument(), "tcp://*:5555")

`serve()` binds a ROUTER socket, answers hello/ping/abort at once from the main thread and
runs experiments in worker threads (up to `capacity` at once), so heartbeats never wait for
an experiment. Results are cached by experiment id and params, which makes `run` idempotent:
a repeated `run` with other params is `rejected` ("conflict: ..."), and only the peer that sent
the matching `run` may abort the experiment (docs/protocol.md sections 4.2, 4.5 and 5).
With `exclusive=True` one campaign at a time holds the instrument (section 12): others get
`error busy` naming the holder, the holder's `resume` takes it back, `release` ends it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import re
import signal
import stat
import threading
import time
import queue
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import zmq
import zmq.auth.thread
import zmq.utils.monitor
import zmq.utils.z85

__all__ = [
    "PROTOCOL_VERSION",
    "MAX_MESSAGE_BYTES",
    "MAX_EXPERIMENT_ID_CHARS",
    "MAX_MESSAGE_DEPTH",
    "Driver",
    "ParamError",
    "ExperimentGoesOn",
    "validate_describe",
    "validate_params",
    "serve",
    "KeyFileError",
    "read_key_pair",
    "read_public_keys",
    "key_fingerprint",
    "HolderLease",
]

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB, per payload frame
# Frames up to this size are read and answered too_large; ZeroMQ drops the connection of a peer
# sending a larger one before it is read, so no one frame takes more of the instrument PC's memory.
# The C++ SDK's limit. It bounds frames, not messages: libzmq keeps every frame of a message until
# its last and has no option limiting frames per message, so frames marked "more" without end grow
# the driver's memory without bound. Only a peer past the CURVE handshake sends a frame at all:
# encryption (key_path, allowed_keys) closes this; on a plaintext link anyone who can connect can.
MAX_FRAME_BYTES = 16 * MAX_MESSAGE_BYTES
MAX_EXPERIMENT_ID_CHARS = 128
MAX_CAMPAIGN_ID_CHARS = 128
SHOWN_CAMPAIGN_ID_CHARS = 12  # of the holder's campaign id in `busy`, at most half of it (protocol §12)
MAX_MESSAGE_DEPTH = 64  # nested arrays/objects per payload; the top-level object is level 1
MAX_ERROR_CHARS = 4096  # failure texts are for humans; keep results small
MAX_DISCRETE_LEVELS = 1000  # levels of a discrete input (docs/protocol.md)
MAX_CAPACITY = 2147483647  # experiments a driver may run at once (docs/protocol.md)
MAX_STATED_NOISE = 1e100  # the largest standard deviation a welcome's "noise" may state (docs/protocol.md)
MAX_HOLDER_FILE_BYTES = 64 << 20  # the exclusive-control holder file, compacted at every start
# While running, the holder file is rewritten to its current line once it passes this: each change
# of holder appends a line, and a hello/release storm once grew it past MAX_HOLDER_FILE_BYTES,
# after which the driver refused to start.
HOLDER_COMPACT_BYTES = 64 << 10
MAX_LEASE_S = 31536000.0  # the longest lease (a year), as the C++ SDK's kMaxLease
# estimate() runs on the thread that answers every peer; one taking longer is logged (at most once a second).
SLOW_ESTIMATE_S = 0.5
MAX_PEERS = 4096  # claims remembered under exclusive control, one per connection that said hello

log = logging.getLogger("labloop_driver")

# Log lines quote what peers sent (experiment ids, failure texts) and what instruments said: shown
# as escapes, as labloop's printable() shows them, so that text cannot retitle or clear the
# operator's terminal, forge log lines or reorder one (bidirectional controls). The wire is untouched.
_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape_unshown(match: re.Match[str]) -> str:
    c = match.group()
    if c == "\t":
        return " "
    if c == "\n":
        return "\\n"
    return f"\\x{ord(c):02x}" if ord(c) < 0x80 else f"\\u{ord(c):04x}"


def _shown(text: str, keep_line_breaks: bool = False) -> str:
    """`text` safe for a terminal: C0, DEL and C1 controls as \\x1b or \\u0085, bidirectional controls,
    line and paragraph separators and lone surrogates as \\u202e, a tab as a space, line breaks as \\n
    unless `keep_line_breaks` (a traceback)."""
    if keep_line_breaks:
        return "\n".join(_UNSHOWN.sub(_escape_unshown, line) for line in text.split("\n"))
    return _UNSHOWN.sub(_escape_unshown, text)


class _ShownLogText(logging.Filter):
    """Makes every record of this SDK's loggers terminal-safe before any handler sees it, whatever
    the call site quotes: one place, so no log line can be missed."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            if record.exc_info and not record.exc_text:
                # A traceback ends with the exception's text, which may quote a peer's.
                record.exc_text = _shown(logging.Formatter().formatException(record.exc_info), keep_line_breaks=True)
        except Exception:  # noqa: BLE001 - a malformed record is reported by its handler, as logging does; never by the caller
            return True
        record.msg, record.args = _shown(message), None
        return True


log.addFilter(_ShownLogText())
logging.getLogger("labloop_driver.zap").addFilter(_ShownLogText())  # a child's records skip the parent's filters

# CurveZMQ (docs/security.md): limits on what is read as keys, as the C++ SDK's core/key_file.hpp.
MAX_KEY_FILE_BYTES = 64 * 1024
MAX_ALLOWED_KEYS = 10000


class KeyFileError(ValueError):
    """A key file or allow-list that cannot be used; the message names the file and the fix."""


def _secret_key_path(path: str) -> str:
    if path.endswith(".key"):
        return path
    return (path[:-4] if path.endswith(".pub") else path) + ".key"


def _kind_of(path: str, mode: int) -> str:
    what = ("a folder" if stat.S_ISDIR(mode) else "a pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
    return ("a symbolic link to " + what) if os.path.islink(path) else what


def _refuse_unless_regular_file(path: str, what: str) -> None:
    """A file the driver keeps records in (its result cache, the holder beside it) must be a regular
    file or not there yet, as the C++ SDK's AppendFile insists: a pipe blocked the driver's start for
    good, /dev/zero was read "all" of until memory ran out, and a symbolic link writes elsewhere."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise ValueError(f"{what} {path} cannot be read: {e.strerror}") from None
    if stat.S_ISLNK(mode):
        raise ValueError(f"{what} {path} is a symbolic link; a driver writes only to regular files: replace it with the file itself")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{what} {path} is not a regular file ({_kind_of(path, mode)}): name a file")


def _read_key_text(path: str, judge: Callable[[str, os.stat_result], None] | None = None) -> bytes:
    """A key file's bytes: opened once without waiting on a pipe (O_NONBLOCK), judged by fstat (a
    folder, pipe or device is refused by name; then by `judge`, so what is judged is what is read),
    read up to MAX_KEY_FILE_BYTES, as the C++ core."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise KeyFileError(f"key file {path} cannot be read: {e.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"key file {path} is {_kind_of(path, info.st_mode)}, not a key file: name the file `labloop keys new` wrote")
        if judge is not None:
            judge(path, info)
        if info.st_size > MAX_KEY_FILE_BYTES:
            raise KeyFileError(f"key file {path} is {info.st_size} bytes; a key file is at most {MAX_KEY_FILE_BYTES} bytes: "
                               "is this the right file?")
        chunks, total = [], 0
        while total <= MAX_KEY_FILE_BYTES:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as e:
        raise KeyFileError(f"key file {path} cannot be read: {e.strerror}") from None
    finally:
        os.close(fd)
    if total > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"key file {path} is over {MAX_KEY_FILE_BYTES} bytes; a key file is at most that: is this the right file?")
    return b"".join(chunks)


_Z85_ALPHABET = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def _z85_valid(text: bytes) -> bool:
    """Exactly 40 Z85 characters whose 5-character groups each fit 4 bytes (the C++ z85_decode):
    never raises, whatever the bytes (pyzmq's decoder raised struct.error for '%' * 40)."""
    if len(text) != 40:
        return False
    for i in range(0, 40, 5):
        value = 0
        for c in text[i:i + 5]:
            digit = _Z85_ALPHABET.find(bytes([c]))
            if digit < 0:
                return False
            value = value * 85 + digit
        if value > 0xFFFFFFFF:
            return False
    return True


def _z85_key(text: bytes, path: str, what: str) -> bytes:
    if _z85_valid(text):
        return text
    raise KeyFileError(f"key file {path}: {what} is not a 40-character Z85 key")


def _printable(text: bytes) -> str:
    return text.decode("utf-8", errors="backslashreplace").encode("unicode_escape").decode("ascii")


def _certificate_fields(path: str, judge: Callable[[str, os.stat_result], None] | None = None) -> dict[str, bytes]:
    """The name = "value" lines of a ZPL certificate by section ("metadata/name",
    "curve/public-key"), or a bare Z85 key as "curve/public-key": the C++ core's
    read_certificate_fields, rule for rule. A section is a line that starts at its first column and
    holds no '='; a field belongs to the section above it; public-key and secret-key outside the
    curve section, a field given twice and a line that is neither are refused."""
    fields: dict[str, bytes] = {}
    section = b""
    for number, line in enumerate(_read_key_text(path, judge).split(b"\n"), 1):
        if line.endswith(b"\r"):
            line = line[:-1]
        stripped = line.lstrip(b" \t")
        if not stripped or stripped.startswith(b"#"):
            continue
        text = stripped.rstrip(b" \t")
        if len(stripped) == len(line) and _z85_valid(text):  # a bare key, as zmq_curve_keypair prints it ('=' is Z85)
            if "curve/public-key" in fields:
                raise KeyFileError(f"key file {path} line {number}: a second public key; is this file damaged or forged?")
            fields["curve/public-key"] = text
            continue
        if len(stripped) == len(line) and b"=" not in text:
            section = text
            continue
        if b"=" not in text:
            raise KeyFileError(f"key file {path} line {number}: expected name = \"value\"; is this a key file written by labloop keys new?")
        name, value = text.split(b"=", 1)
        name = name.rstrip(b" \t")
        value = value.lstrip(b" \t")
        if len(value) >= 2 and value[:1] in (b'"', b"'") and value[-1:] == value[:1]:
            value = value[1:-1]
        if name in (b"public-key", b"secret-key") and section != b"curve":
            where = "outside any section" if not section else f'in section "{_printable(section)}"'
            raise KeyFileError(f"key file {path} line {number}: {name.decode()} is {where}; a CURVE key belongs to the curve section: "
                               "is this file damaged or forged? (`labloop keys new` writes it there)")
        field = _printable(section) + "/" + _printable(name)
        if field in fields:
            raise KeyFileError(f'key file {path} line {number}: {_printable(name)} is given twice in section "{_printable(section)}"; '
                               "is this file damaged or forged?")
        fields[field] = value
    return fields


def _required_key(fields: dict[str, bytes], field: str, path: str) -> bytes:
    if field not in fields:
        raise KeyFileError(f"key file {path} has no {field}: make keys with `labloop keys new NAME`")
    return _z85_key(fields[field], path, field)


def _user_named(uid: int) -> str:
    try:
        import pwd
        return f"user {_printable(pwd.getpwuid(uid).pw_name.encode())} (uid {uid})"
    except (KeyError, ImportError):
        return f"uid {uid}"


def _key_owner_problem(owner: int) -> str:
    """Why a key file owned by `owner` is refused ("" when it is not): another user than this one or
    root, who may read and replace it (the C++ core's key_owner_problem)."""
    user = os.geteuid()
    if owner in (user, 0):
        return ""
    return f"belongs to {_user_named(owner)}, who may read and replace it, not to {_user_named(user)}"


def _judge_allowed(path: str, info: os.stat_result) -> None:
    """An allow-list (its directory, each .pub in it) others may change would let them add their own
    key: refused, as the C++ core's allowed_keys_problem and sshd's StrictModes."""
    problem = (f"may be changed by other users (mode {stat.S_IMODE(info.st_mode):04o}): anyone who may could let their own key in"
               if info.st_mode & 0o022 else _key_owner_problem(info.st_uid))
    if problem:
        raise KeyFileError(f"allowed keys {path} {problem}; an allow-list must be changed by its owner only (`chmod go-w {path}`, "
                           "owned by the user who runs the driver or by root)")


def read_public_key(path: str, judge: Callable[[str, os.stat_result], None] | None = None) -> bytes:
    """The Z85 CURVE public key of a .pub file (ZeroMQ certificate, or one bare Z85 line), read by
    the C++ SDK's rule. A file that holds a secret key (a .key where a public key belongs) is refused."""
    fields = _certificate_fields(path, judge)
    for secret in ("curve/secret-key", "metadata/sign-secret-seed"):
        if secret in fields:
            raise KeyFileError(f"key file {path} holds a secret key ({secret}) where a public key belongs: name the .pub file. A public "
                               "key file is given away and often readable by everyone, so if this one was, treat the secret as known: "
                               "make a new key pair (`labloop keys new`) and revoke this one")
    if "metadata/sign-public-key" in fields:
        _required_key(fields, "metadata/sign-public-key", path)
    return _required_key(fields, "curve/public-key", path)


def read_key_pair(path: str) -> tuple[bytes, bytes]:
    """(public, secret) Z85 keys of "keys/NAME" or "keys/NAME.key"; refuses a secret others may
    read, and one that does not give its public key (a damaged file would advertise a key it
    cannot serve)."""
    secret_path = _secret_key_path(path)
    try:
        mode = os.stat(secret_path).st_mode
    except OSError as e:
        raise KeyFileError(f"secret key {secret_path} cannot be read: {e.strerror} (make one with `labloop keys new NAME`)") from None
    if not stat.S_ISREG(mode):
        raise KeyFileError(f"secret key {secret_path} is {_kind_of(secret_path, mode)}, not a key file: name the NAME.key file "
                           "`labloop keys new` wrote")

    def judge(opened: str, info: os.stat_result) -> None:
        # Judged on the file read, not on the stat above: a file swapped in meanwhile.
        if info.st_mode & 0o077:
            raise KeyFileError(f"secret key {opened} may be read or changed by other users (mode {info.st_mode & 0o7777:04o}); "
                               f"a secret key must be its owner's only: run `chmod 600 {opened}`")
        if problem := _key_owner_problem(info.st_uid):
            raise KeyFileError(f"secret key {opened} {problem}; a secret key must be its owner's only: make a new key pair as the user "
                               "who runs the driver (`labloop keys new`), and revoke this one")

    fields = _certificate_fields(secret_path, judge)
    public = _required_key(fields, "curve/public-key", secret_path)
    secret = _required_key(fields, "curve/secret-key", secret_path)
    if ("metadata/sign-public-key" in fields) != ("metadata/sign-secret-seed" in fields):
        raise KeyFileError(f"key file {secret_path} has only half of its signing key (sign-public-key and sign-secret-seed go together)")
    for field in ("metadata/sign-public-key", "metadata/sign-secret-seed"):
        if field in fields:
            _required_key(fields, field, secret_path)
    try:
        derived = zmq.curve_public(secret)
    except zmq.ZMQError:  # a libzmq without CURVE: nothing can be encrypted with it anyway
        derived = public
    if derived != public:
        raise KeyFileError(f"key file {secret_path} is damaged: its secret-key does not give its public-key ({key_fingerprint(public)}), "
                           "so a peer would be told the keys do not match; restore the file from a copy, or make a new pair with "
                           "`labloop keys new` and replace the old public key wherever it was given")
    return public, secret


def read_public_keys(path: str) -> list[bytes]:
    """An allow-list: one .pub file, or every *.pub file of a directory (not recursive)."""
    if not os.path.exists(path):
        raise KeyFileError(f"allowed keys {path} do not exist: name a public key file or a directory of them")
    if not os.path.isdir(path):
        return [read_public_key(path, _judge_allowed)]
    try:
        _judge_allowed(path, os.stat(path))
    except OSError as e:
        raise KeyFileError(f"allowed keys {path} cannot be read: {e.strerror}") from None
    names = []
    try:
        listed = os.listdir(path)
    except OSError as e:
        raise KeyFileError(f"allowed keys {path} cannot be listed: {e.strerror}") from None
    for n in listed:
        if not n.endswith(".pub"):
            continue
        full = os.path.join(path, n)
        try:
            regular = stat.S_ISREG(os.stat(full).st_mode)
        except FileNotFoundError:
            continue  # a link to nothing, or gone since the listing
        except OSError as e:
            raise KeyFileError(f"allowed keys {path}: {_printable(os.fsencode(n))} cannot be read: {e.strerror}") from None
        if regular:
            names.append(n)
    names.sort(key=os.fsencode)
    if len(names) > MAX_ALLOWED_KEYS:
        raise KeyFileError(f"allowed keys {path} hold more than {MAX_ALLOWED_KEYS} public keys: split them by instrument")
    return [read_public_key(os.path.join(path, n), _judge_allowed) for n in names]


def key_fingerprint(z85_public: bytes) -> str:
    """How logs name a key: "curve:" and its first 16 Z85 characters (as the C++ SDK)."""
    return "curve:" + z85_public[:16].decode("ascii", errors="replace")


class _LineLimiter:
    """Writes a line a peer can make this driver write once per message or connection it sends
    (its hello, its error, a refusal, an undelivered reply, a refused handshake) at most once a
    second per kind, the next one saying how many were left out: a flood of messages or
    connections must not fill the instrument PC's disk. Thread-safe (the access check runs on
    pyzmq's authenticator thread); the C++ SDK keeps the same rule (src/wire/log_limiter.hpp)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kinds: dict[str, tuple[float, int]] = {}  # kind -> when last written, how many left out since

    def log(self, kind: str, level: int, fmt: str, *args: Any) -> None:
        with self._lock:
            last, count = self._kinds.get(kind, (-math.inf, 0))
            now = time.monotonic()
            if now - last < 1.0:
                self._kinds[kind] = (last, count + 1)
                return
            self._kinds[kind] = (now, 0)
        if count:
            fmt += " (and %d more such left out since the last line saying so: at most one a second)"
            args += (count,)
        log.log(level, fmt, *args)


class _AllowList:
    """pyzmq credentials provider: re-reads the allow-list at every handshake (no cache), so a key
    revoked with `labloop keys revoke` is refused from its next connection. Fails closed."""

    def __init__(self, path: str, limited: _LineLimiter) -> None:
        self.path = path
        self.limited = limited

    def callback(self, domain: str, key: bytes) -> bool:
        try:
            allowed = read_public_keys(self.path)
        except Exception as e:  # noqa: BLE001 - the access-check thread must never die: refuse, say why, recover once fixed
            self.limited.log("allow-list unreadable", logging.ERROR, "refused controller key %s: the allow-list cannot be read (%s); "
                             "every controller is refused until it is fixed", key_fingerprint(key), e)
            return False
        if key in allowed:
            log.info("admitted controller key %s", key_fingerprint(key))
            return True
        self.limited.log("key not allowed", logging.WARNING, "refused controller key %s: it is not in the allow-list %s", key_fingerprint(key), self.path)
        return False


def _utc(t: float, fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
    return time.strftime(fmt, time.gmtime(t))


def _is_time(t: Any) -> bool:
    """A Unix time _utc() can print: a holder read from disk is named in every busy message."""
    if not (isinstance(t, (int, float)) and not isinstance(t, bool)):
        return False
    try:
        _utc(t)
    except (OverflowError, ValueError, OSError):
        return False
    return True


class HolderLease:
    """Exclusive control (docs/protocol.md section 12), the policy alone, time passed in: the C++
    SDK's labloop/wire/lease.hpp. A claim is (campaign id, controller key fingerprint or "")."""

    def __init__(self, lease_s: float) -> None:
        self.lease_s = lease_s
        self.holder: dict[str, Any] | None = None  # {"campaign_id", "key", "since", "until"}; may have expired
        self.dirty = False  # changed in a way the holder file must know
        self._saved_until = 0.0

    def current(self, now: float) -> dict[str, Any] | None:
        return self.holder if self.holder is not None and now < self.holder["until"] else None

    def _renew(self, now: float) -> None:
        assert self.holder is not None
        self.holder["until"] = now + self.lease_s
        if self.holder["until"] - self._saved_until >= self.lease_s / 10:
            self.dirty = True

    def take(self, claim: tuple[str, str], now: float) -> str:
        """'taken', 'renewed' (the holder again: a resume) or 'refused'."""
        held = self.current(now)
        if held is not None:
            if (held["campaign_id"], held["key"]) != claim:
                return "refused"
            self._renew(now)
            return "renewed"
        self.holder = {"campaign_id": claim[0], "key": claim[1], "since": now, "until": now + self.lease_s}
        self.dirty = True
        return "taken"

    def admit(self, claim: tuple[str, str] | None, now: float) -> bool:
        held = self.current(now)
        if held is None:
            return True
        if claim != (held["campaign_id"], held["key"]):
            return False
        self._renew(now)
        return True

    def release(self, claim: tuple[str, str], now: float) -> str:
        """'released', 'not_held' or 'refused' (someone else holds it)."""
        held = self.current(now)
        if held is None:
            if self.holder is not None:
                self.holder, self.dirty = None, True
            return "not_held"
        if (held["campaign_id"], held["key"]) != claim:
            return "refused"
        self.holder, self.dirty = None, True
        return "released"

    def saved(self) -> None:
        self.dirty = False
        self._saved_until = self.holder["until"] if self.holder else 0.0

    def busy_message(self, now: float) -> str:
        held = self.current(now)
        if held is None:
            return "instrument is free"
        who = f" (controller {held['key']})" if held["key"] else ""
        # On a plaintext link the whole campaign id makes a hello the holder's: show its start only.
        shown = held["campaign_id"][:min(SHOWN_CAMPAIGN_ID_CHARS, len(held["campaign_id"]) // 2)] + "…"
        return (f"instrument held by campaign {shown}{who} since {_utc(held['since'], '%Y-%m-%d %H:%M:%S')} UTC; "
                f"its lease runs until {_utc(held['until'], '%Y-%m-%d %H:%M:%S')} UTC unless it is released")


# The experiment a worker thread is running, so Driver.report_progress() needs no id argument.
_current = threading.local()


def _log_handshake_failures(monitor: zmq.Socket, limited: _LineLimiter) -> None:
    """Logs the handshakes refused before the allow-list is asked (as the C++ SDK words them)."""
    for _ in range(1000):  # bounded: a flood of refused connections must not starve the loop
        try:
            event = zmq.utils.monitor.recv_monitor_message(monitor, zmq.NOBLOCK)
        except zmq.Again:
            return
        if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            # A plaintext client may see the mismatch first and hang up before this side reads
            # its greeting: then all the driver sees is a handshake cut short.
            limited.log("handshake cut short", logging.WARNING, "a client closed its connection during the handshake (a plaintext client, or one encrypting to "
                        "another server key; the controller's error says which)")
        elif event["value"] == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            limited.log("handshake plaintext", logging.WARNING, "refused a client without encryption: this driver requires CURVE (the controller needs a security section)")
        elif event["value"] == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
            limited.log("handshake other key", logging.WARNING, "refused a client that encrypts to another server key: its security section names the wrong "
                        "server_public_key")
        else:
            limited.log("handshake refused", logging.WARNING, "refused a client: ZeroMQ handshake error %d", event["value"])


class ParamError(ValueError):
    """Params do not satisfy the declared inputs; str(error) is the `rejected` reason, at most
    MAX_ERROR_CHARS characters (docs/protocol.md section 7)."""

    def __init__(self, reason: str) -> None:
        # Reasons name inputs, and a driver's own names are not limited: cut here, so no reason
        # passes 4096 characters whatever it quotes (a peer's text is shortened where it is quoted).
        super().__init__(reason if len(reason) <= MAX_ERROR_CHARS else reason[:MAX_ERROR_CHARS - 3] + "...")


class ExperimentGoesOn(Exception):
    """Raised by run() when it is stopped but its instrument goes on with the experiment and cannot
    be called back (a request the instrument's software has taken, a sample already in the
    machine). When the driver shuts down, serve() then sends no result for it: "driver shutting
    down" would have the controller run the experiment again under another id while the instrument
    still measures it. A controller that sends the same run to the driver restarted gets the result
    the instrument produces, if the driver can find it then: override Driver.run_experiment(), which
    is given the experiment's id. On an abort it fails the experiment like any other exception
    ("aborted"). The C++ SDK's labloop::ExperimentGoesOn."""


class Driver:
    """Subclass and implement describe() and run() (or run_experiment(), to get the experiment's
    id); optionally estimate()."""

    def describe(self) -> dict[str, Any]:
        """Return {"driver", "version", "inputs", "outputs", "capacity"} (the `welcome` body),
        and "noise" ({output: standard deviation of one measurement}) for the outputs whose
        repeatability you know."""
        raise NotImplementedError

    def run(self, params: dict[str, Any], stop: threading.Event) -> Any:
        """Run one experiment and return {output name: number}.

        `params` is already validated against the inputs (integers arrive as int). Raise to
        report status "failed" (the exception text becomes "error"); sys.exit() and
        KeyboardInterrupt fail this experiment too, never the driver. Check `stop` often: once it
        is set the experiment is reported as aborted, whatever run() returns; raise
        ExperimentGoesOn instead when the instrument goes on with it regardless. May also return a
        tuple (values, meta) where meta is a JSON-serialisable dict merged into the result meta.
        """
        raise NotImplementedError

    def run_experiment(self, experiment: str, params: dict[str, Any], stop: threading.Event) -> Any:
        """What serve() calls for each experiment: run(params, stop) by default, as the C++ SDK's
        run_experiment. Override it instead of run() when the experiment's id matters to the
        instrument: a sample label, a request file named after it, or finding, after a restart,
        the result of an experiment the instrument went on with (ExperimentGoesOn). `experiment`
        is the id the controller sent (1 to 128 characters, any text: escape it before using it
        in a file name); the rest is as for run()."""
        return self.run(params, stop)

    def estimate(self, params: dict[str, Any]) -> dict[str, float]:
        """Optional {"expected_s": ..., "max_s": ...} (seconds, finite numbers >= 0) sent in
        `accepted`; default: none.

        Called on the socket thread, the one that answers ping and hello, before the run starts:
        it must return at once, computed from `params` alone (no instrument I/O, no waiting).
        While it runs no peer is answered, and a controller takes a driver silent for about 5 s
        as lost; a call taking over 0.5 s is logged. What is no dict, or a value that is no
        finite number >= 0, is left out of `accepted` (logged once per cause); an exception
        accepts the run without an estimate (its traceback logged once per exception type).
        """
        return {}

    def report_progress(self, fraction: float) -> None:
        """Call from inside run() to publish progress (0..1) in `pong`. A number outside 0..1 is
        clamped; anything that is no finite number (NaN, infinity, an integer no double holds) is
        ignored: progress is no reason to fail an experiment."""
        job = getattr(_current, "job", None)
        if job is not None and isinstance(fraction, (int, float)) and _is_finite(fraction):
            job.progress = min(1.0, max(0.0, float(fraction)))


# ---------------------------------------------------------------------------------------------
# Validation helpers (usable without a socket, e.g. in a driver's own unit tests).


def _is_number(v: Any) -> bool:
    # JSON true/false parse to bool, which Python treats as int; they are not numbers on the wire.
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_finite(v: Any) -> bool:
    # math.isfinite raises for an int no double holds; such a number is no finite double either.
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _fmt(v: Any) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        text = repr(v)  # an integer may have thousands of digits
        return text if len(text) <= 80 else text[:77] + "..."
    try:
        text = json.dumps(v, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _fmt_any(v: Any) -> str:
    """A value a driver returned, for a log line: its repr (a tuple shows as one), cut to 80 characters."""
    try:
        text = repr(v)
    except Exception:  # noqa: BLE001 - a __repr__ that raises: its type must do
        text = f"<{type(v).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def _same_json_value(a: Any, b: Any) -> bool:
    # Compare as JSON values: "1" != 1 and true != 1, but 1 == 1.0; objects and arrays member by
    # member. Used for categorical choices and for the params of a repeated `run`.
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json_value(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# Bytes that are not brackets; brackets are ASCII, so the scan works on the raw UTF-8 bytes.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _too_deep(payload: bytes, max_depth: int = MAX_MESSAGE_DEPTH) -> bool:
    """True when `payload` opens more than max_depth nested arrays/objects (`{}` is depth 1).

    A scan before parsing, so a hostile frame never reaches json.loads' recursion (100,000 '['
    raise RecursionError, or crash an interpreter whose recursion limit was raised). The text
    need not be valid JSON; unbalanced closers never buy extra depth.
    """
    if payload.count(b"[") + payload.count(b"{") <= max_depth:
        return False  # the common case, at C speed
    # A bracket inside a string is not structure: drop escaped backslashes, then escaped quotes,
    # then every other quote-delimited run (only bytes methods: a regex is too slow on 1 MiB).
    unescaped = payload.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.split(b'"')[0::2]).translate(None, _NOT_BRACKETS)
    depth = 0
    for c in brackets:
        if c == 0x5B or c == 0x7B:  # [ {
            depth += 1
            if depth > max_depth:
                return True
        elif depth > 0:
            depth -= 1
    return False


def _level_tolerance(levels: Sequence[float]) -> float:
    """How far a value may be from a discrete level and still be it (docs/protocol.md section 4.2):
    1e-9 of the larger of the levels' spread and their largest magnitude, as the C++
    Parameter::level_tolerance. The spread overflows to infinity for levels near +-1.8e308, which
    made every finite value one of the levels; the largest magnitude, at least half the spread,
    stands in then."""
    spread = max(levels) - min(levels)
    scale = spread if math.isfinite(spread) else 0.0
    for v in levels:
        scale = max(scale, abs(v))
    return 1e-9 * scale


def validate_describe(desc: Mapping[str, Any]) -> dict[str, Any]:
    """Check a describe() dict and return a normalised copy; raise ValueError when it is wrong."""
    if not isinstance(desc, Mapping):
        raise ValueError("describe() must return a dict")
    for key in ("driver", "version"):
        if not isinstance(desc.get(key), str) or not desc[key]:
            raise ValueError(f"describe(): '{key}' must be a non-empty string")
    inputs = desc.get("inputs")
    if not isinstance(inputs, Sequence) or isinstance(inputs, str):
        raise ValueError("describe(): 'inputs' must be a list")
    seen: set[str] = set()
    norm_inputs: list[dict[str, Any]] = []
    for i, spec in enumerate(inputs):
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str) or not spec["name"]:
            raise ValueError(f"describe(): inputs[{i}] needs a non-empty string 'name'")
        name = spec["name"]
        if name in seen:
            raise ValueError(f"describe(): duplicate input '{name}'")
        seen.add(name)
        kind = spec.get("type")
        if kind in ("continuous", "integer"):
            lo, hi = spec.get("low"), spec.get("high")
            if not (_is_number(lo) and _is_number(hi) and math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError(f"describe(): input '{name}' needs finite numeric 'low' and 'high'")
            if lo > hi:
                raise ValueError(f"describe(): input '{name}' has low > high")
            if kind == "integer" and not (float(lo).is_integer() and float(hi).is_integer()):
                raise ValueError(f"describe(): integer input '{name}' needs integral limits")
        elif kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, Sequence) or isinstance(choices, str) or not choices:
                raise ValueError(f"describe(): categorical input '{name}' needs a non-empty 'choices' list")
        elif kind == "discrete":
            # Numeric levels (protocol v1, extended): the controller sends only these values.
            values = spec.get("values")
            if (not isinstance(values, Sequence) or isinstance(values, str) or not values
                    or len(values) > MAX_DISCRETE_LEVELS
                    or not all(_is_number(v) and math.isfinite(v) for v in values)):
                raise ValueError(f"describe(): discrete input '{name}' needs a 'values' list of 1 to "
                                 f"{MAX_DISCRETE_LEVELS} finite numbers")
            if len(set(float(v) for v in values)) != len(values):
                raise ValueError(f"describe(): discrete input '{name}' lists a level twice")
            levels = sorted(float(v) for v in values)
            # The controller takes levels within 1e-9 of the levels' scale for one another
            # (docs/protocol.md): two such levels would be refused at its hello.
            tolerance = _level_tolerance(levels)
            for low, high in zip(levels, levels[1:]):
                if high - low <= tolerance:
                    raise ValueError(f"describe(): discrete input '{name}' lists levels {low!r} and {high!r}, "
                                     f"closer than 1e-9 of its levels' scale: the controller would take one for the other")
            spec = dict(spec, values=sorted(values))
        else:
            raise ValueError(f"describe(): input '{name}' has unknown type {kind!r}")
        if "unit" in spec and not isinstance(spec["unit"], str):
            raise ValueError(f"describe(): input '{name}' has a non-string 'unit'")
        # Every field goes into each welcome as it is (extra ones too): one that JSON cannot hold
        # (NaN, an object) let the driver start, then no hello was ever answered (only a traceback
        # per hello in its log). Encoded as the wire encodes it (_encode: no NaN, UTF-8).
        for field, value in spec.items():
            if not isinstance(field, str):
                raise ValueError(f"describe(): input '{name}' has a field named {_fmt_any(field)}; field names are strings")
            try:
                _encode({field: value})
            except (TypeError, ValueError, RecursionError) as e:
                raise ValueError(f"describe(): input '{name}' field {_fmt_any(field)} = {_fmt_any(value)} cannot be sent as JSON ({e}): "
                                 "a welcome holds only strings, finite numbers, true, false, null, lists and objects") from None
        norm_inputs.append(dict(spec))
    outputs = desc.get("outputs")
    if (not isinstance(outputs, Sequence) or isinstance(outputs, str)
            or not all(isinstance(o, str) and o for o in outputs)
            or len(set(outputs)) != len(outputs)):
        raise ValueError("describe(): 'outputs' must be a list of distinct non-empty strings")
    capacity = desc.get("capacity", 1)
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= MAX_CAPACITY:
        raise ValueError(f"describe(): 'capacity' must be an integer from 1 to {MAX_CAPACITY}")
    described = {"driver": desc["driver"], "version": desc["version"], "inputs": norm_inputs,
                 "outputs": list(outputs), "capacity": capacity}
    noise = desc.get("noise")
    if noise is not None:
        if (not isinstance(noise, Mapping) or not all(k in outputs for k in noise)
                or not all(_is_number(v) and 0 <= v <= MAX_STATED_NOISE for v in noise.values())):
            raise ValueError("describe(): 'noise' must map outputs to standard deviations from 0 to 1e100")
        described["noise"] = {k: float(v) for k, v in noise.items()}
    # The welcome as a whole: a driver name, version or output that is not valid Unicode (a lone
    # surrogate), and its size: a welcome over the 1 MiB a message may be is refused by every
    # controller (docs/protocol.md section 7).
    try:
        size = len(_encode({"v": PROTOCOL_VERSION, "type": "welcome", **described, "holder": {}}))
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"describe(): its driver, version or outputs cannot be sent as JSON ({e}): "
                         "write them as valid Unicode text") from None
    # 1 KiB spare for the holder a welcome names under exclusive control (a campaign id of up to
    # 128 characters, 512 bytes of UTF-8, its times and controller key).
    if size + 1024 > MAX_MESSAGE_BYTES:
        raise ValueError(f"describe(): the welcome would be {size} bytes; a message is at most {MAX_MESSAGE_BYTES} bytes (1 MiB, "
                         "docs/protocol.md section 7), 1 KiB of them kept for the holder it may name: declare fewer inputs, choices or levels")
    return described


def validate_params(inputs: Sequence[Mapping[str, Any]], params: Any) -> dict[str, Any]:
    """Check params against declared inputs (protocol v1 rules) and return a normalised copy.

    Raises ParamError whose text is suitable as a `rejected` reason. Integer inputs accept any
    JSON number with an integral value (3 or 3.0) and come back as int.
    """
    if not isinstance(params, Mapping):
        raise ParamError("params is not an object")
    declared = {spec["name"] for spec in inputs}
    for name in params:
        if name not in declared:
            # The peer's name, shortened: a 1 MiB name made a reply larger than the 1 MiB a frame may be.
            raise ParamError(f"unknown input {_fmt(name)}")
    out: dict[str, Any] = {}
    for spec in inputs:
        name = spec["name"]
        if name not in params:
            raise ParamError(f"missing input {name}")
        v = params[name]
        kind = spec.get("type")
        if kind in ("continuous", "integer"):
            if not _is_number(v) or not _is_finite(v):
                raise ParamError(f"{name}={_fmt(v)} is not a finite number")
            if kind == "integer":
                if not float(v).is_integer():
                    raise ParamError(f"{name}={_fmt(v)} is not an integer")
                v = int(v)
            lo, hi = spec["low"], spec["high"]
            if v < lo or v > hi:
                raise ParamError(f"{name}={_fmt(v)} outside limits [{_fmt(lo)}, {_fmt(hi)}]")
        elif kind == "categorical":
            choices = spec["choices"]
            if not any(_same_json_value(v, c) for c in choices):
                raise ParamError(f"{name}={_fmt(v)} not among choices {_fmt(list(choices))}")
        elif kind == "discrete":
            # The same tolerance as the controller's check (1e-9 of the levels' scale), and the
            # level itself handed to run(), so 0.1 written as 0.10000000000000002 is still 0.1.
            levels = spec["values"]
            if not _is_number(v) or not _is_finite(v):
                raise ParamError(f"{name}={_fmt(v)} is not a finite number")
            level = min(levels, key=lambda x: abs(x - v))
            if abs(level - v) > _level_tolerance(levels):
                raise ParamError(f"{name}={_fmt(v)} is not one of the levels {_fmt(list(levels))}")
            v = level
        else:
            raise ParamError(f"input {name} has unknown type {kind!r}")
        out[name] = v
    return out


# ---------------------------------------------------------------------------------------------
# The server.


class _Job:
    """One running experiment. Only the main thread touches envelope/key/accepted."""

    def __init__(self, exp_id: str, params: dict[str, Any], sent_params: dict[str, Any],
                 envelope: list[bytes], key: str, accepted: dict[str, Any]) -> None:
        self.exp_id = exp_id
        self.params = params  # validated, as run() gets them
        self.sent_params = sent_params  # as received: compared with a repeat's, kept in the cache
        # The owner: the latest sender of a matching `run`, as (routing identity, controller key);
        # gets the result. envelope None: its identity now speaks with another key, so the result
        # is kept for a matching run instead of going to whoever took the identity over.
        self.envelope: list[bytes] | None = envelope
        self.key = key
        self.accepted = accepted  # re-sent verbatim on a repeat `run`
        self.stop = threading.Event()
        self.progress: float | None = None  # written by the worker, read by the main thread
        self.shutdown = False
        self.goes_on: str | None = None  # set by the worker: run() raised ExperimentGoesOn, with its text
        self.aborted = False  # its controller aborted it: answered even at shutdown (it wants no result)
        self.thread: threading.Thread | None = None


class _Finished:
    """A finished experiment: its final result, the params of its run (None for a cache line
    written before params were kept: answered by id alone) and its owner as (routing identity,
    controller key) (None until someone sends a matching `run` to this process)."""

    def __init__(self, result: dict[str, Any], params: dict[str, Any] | None, owner: tuple[bytes, str] | None) -> None:
        self.result = result
        self.params = params
        self.owner = owner


def _exception_text(e: BaseException) -> str:
    """What a failed result says of `e`: its text, else its type's name (a __str__ that raises
    must not cost the controller its result). What is no Exception (SystemExit from sys.exit(),
    KeyboardInterrupt) is named with its arguments, as its text alone ("3") says nothing."""
    if not isinstance(e, Exception):
        try:
            return repr(e)
        except BaseException:  # noqa: BLE001
            return type(e).__name__
    try:
        text = str(e)
    except BaseException:  # noqa: BLE001
        text = ""
    return text or type(e).__name__


def _brief(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)  # for log lines
    return text if len(text) <= 200 else text[:197] + "..."


def _said(value: Any) -> str:
    """What a peer sent, for a log line: a string as it is, anything else as JSON, cut to 200
    characters as _brief cuts, so one message of 1 MiB is not one log line of 1 MiB."""
    text = value if isinstance(value, str) else _brief(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _error(code: str, message: str, experiment: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "error", "code": code, "message": message}
    if experiment is not None:
        msg["experiment"] = experiment
    return msg


def _cache_stamp(info: Mapping[str, Any], results_depend_on: Any) -> dict[str, Any]:
    """The first line of a result cache: what wrote it (docs/protocol.md section 5). Cached results
    are answered by id and params alone, so a cache kept from another function, other limits or
    other options would answer as if this instrument had measured them. The digest covers what
    decides a result besides its params (driver name, inputs, outputs, results_depend_on), not the
    version or capacity, so an update that measures the same keeps its cache."""
    decisive = {"driver": info["driver"], "inputs": info["inputs"], "outputs": info["outputs"]}
    # Blame what is at fault: describe() (validate_describe refuses what the wire cannot send, but
    # a caller may hand this any info), else results_depend_on.
    try:
        json.dumps(decisive, sort_keys=True, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"describe() cannot be written as plain JSON for the result cache's stamp ({e}): its driver name, "
                         "inputs and outputs must hold only strings, finite numbers, true, false, null, lists and objects") from None
    decisive["results_depend_on"] = results_depend_on
    try:
        canonical = json.dumps(decisive, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        canonical.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"results_depend_on must be plain JSON (objects, arrays, strings, finite numbers): {e}") from None
    return {"cache_of": {"driver": info["driver"], "welcome_sha256": hashlib.sha256(canonical.encode("utf-8")).hexdigest()}}


def _valid_id(x: Any) -> bool:
    return isinstance(x, str) and 1 <= len(x) <= MAX_EXPERIMENT_ID_CHARS


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A key twice in one object: json.loads keeps the last, other readers the first (RFC 8259 §4),
    # so the protocol refuses it, as the C++ SDK does.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"an object holds the key {key[:100]!r} twice; each key may appear once per object")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity literals; the protocol (plain JSON) does not.
    raise ValueError(f"invalid JSON literal {name}")


class _NumberTooLarge(ValueError):
    """A JSON number no double holds, refused as the C++ SDK's parser refuses it."""

    def __init__(self, text: str) -> None:
        shown = text if len(text) <= 40 else text[:37] + "..."
        super().__init__(f"a number too large for a double (past 1.8e308, such as 1e999): {shown}")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999: Python would make it inf, which no limit check could compare
        raise _NumberTooLarge(text)
    return value


def _parse_int(text: str) -> int:
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise _NumberTooLarge(text) from None
    return value


def _encode(msg: Mapping[str, Any]) -> bytes:
    return json.dumps(msg, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def _encode_any(msg: Mapping[str, Any]) -> bytes:
    """As _encode, for measuring a cache line an older SDK wrote: Infinity (1e999 read back) written, not refused."""
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(value: Any) -> bool:
    """True when a string anywhere in `value` (keys included) holds a lone surrogate.

    json.loads turns the legal escape "\\ud800" into a str that UTF-8 cannot encode, so any
    reply or cache line echoing it would fail; the C++ SDK's parser refuses such text outright.
    Nesting is bounded by the too_deep check, so recursion is safe.
    """
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


class _Server:
    def __init__(self, driver: Driver, endpoint: str, cache_path: str | None,
                 shutdown_timeout: float, stop_event: threading.Event | None,
                 key_path: str | None = None, allowed_keys: str | None = None,
                 require_encryption: bool = False, exclusive: bool = False, lease_s: float = 3600.0,
                 results_depend_on: Any = None) -> None:
        if require_encryption and not key_path:
            raise KeyFileError("encryption is required but no key pair was given: make one with `labloop keys new NAME`, then "
                            "serve with key_path (--key keys/NAME) and allowed_keys (--allowed DIR)")
        if bool(key_path) != bool(allowed_keys):
            raise KeyFileError("a key pair was given without an allow-list: name the controllers' public keys allowed to connect "
                            "(--allowed FILE_OR_DIR)" if key_path else
                            "an allow-list was given without this driver's key pair (--key keys/NAME)")
        self.keys: tuple[bytes, bytes] | None = None
        self.allowed_keys = allowed_keys
        if key_path:
            if not zmq.has("curve"):
                raise KeyFileError("this libzmq has no CURVE support: install a libzmq built with libsodium")
            self.keys = read_key_pair(key_path)
            count = len(read_public_keys(allowed_keys or ""))  # a typo fails now, not at the first handshake
            log.info("encrypted (CURVE): this driver's key is %s; %d controller key(s) allowed by %s",
                     key_fingerprint(self.keys[0]), count, allowed_keys)
        self.driver = driver
        self.endpoint = endpoint
        self.info = validate_describe(driver.describe())
        self.capacity: int = self.info["capacity"]
        self.cache_path = cache_path
        self.shutdown_timeout = shutdown_timeout
        self.stopping = stop_event if stop_event is not None else threading.Event()
        self.cache: dict[str, _Finished] = {}  # experiment id -> final result, params, owner
        self._limited = _LineLimiter()  # _log_limited
        self._estimate_said: set[str] = set()  # the ways estimate() went wrong that were logged (_say_estimate_once)
        self.running: dict[str, _Job] = {}  # insertion order = start order
        self.done: queue.SimpleQueue[tuple[_Job, dict[str, Any]]] = queue.SimpleQueue()
        self.seq = 0  # experiments started by this process; exposed as meta.run_seq
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self._cache_lock = None
        if cache_path:
            # Two drivers on one cache would each answer from a file the other appends to unseen,
            # and run again what the other finished: the second is refused. The lock is held by
            # this open file for as long as the server lives.
            _refuse_unless_regular_file(cache_path, "result cache")
            self._cache_lock = open(cache_path, "ab")
            deadline = time.monotonic() + 5.0  # a driver killed a moment ago still holds it for a while
            while True:
                try:
                    fcntl.flock(self._cache_lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() < deadline:
                        time.sleep(0.02)
                        continue
                    self._cache_lock.close()
                    raise ValueError(f"result cache {cache_path} is in use by another driver (a second one started with the same "
                                     f"--cache?): give each driver its own cache file") from None
                except OSError:
                    break  # a filesystem without locks (some network mounts): nothing more can be known
            self._load_cache(cache_path, _cache_stamp(self.info, results_depend_on))
        # Exclusive control: the holder, and what each peer (ROUTER identity) claimed in its hello.
        if not (isinstance(lease_s, (int, float)) and not isinstance(lease_s, bool) and 1 <= lease_s <= MAX_LEASE_S):
            raise ValueError(f"lease_s must be 1 to {MAX_LEASE_S:.0f} seconds (a year), as the C++ SDK's kMaxLease, not {lease_s!r}")
        self.lease = HolderLease(lease_s) if exclusive else None
        # Only accepted claims, least recently used first: a peer refused or without a claim is
        # never stored, so a flood of hellos cannot push the holder's connection out.
        self.peers: OrderedDict[bytes, tuple[str, str]] = OrderedDict()
        self._key = ""  # the controller key of the message being handled (its connection's User-Id)
        self.holder_path = cache_path + ".holder" if cache_path else None
        if self.lease is not None and self.holder_path:
            _refuse_unless_regular_file(self.holder_path, "the instrument's holder file")
            self._load_holder(self.holder_path)

    # -- the holder on disk beside the cache (the C++ SDK's format): JSON lines, the last good
    #    one winning, {"released": true} when free; fsynced before the answer that depends on it.

    def _load_holder(self, path: str) -> None:
        assert self.lease is not None
        lines = 0
        torn = False
        try:
            if os.path.getsize(path) > MAX_HOLDER_FILE_BYTES:
                raise ValueError(f"the instrument's holder file {path} is larger than the {MAX_HOLDER_FILE_BYTES} bytes a driver reads: "
                                 "is it the right file? If no campaign holds this instrument, remove it")
            with open(path, "rb") as f:
                for line in f:
                    torn = not line.endswith(b"\n")
                    if not line.strip():
                        continue
                    lines += 1
                    try:
                        h = json.loads(line.decode("utf-8"))
                        if _has_lone_surrogate(h):
                            # Written by an SDK that took such a campaign_id: every busy message
                            # naming it would fail to encode.
                            raise ValueError("a string that is not valid Unicode")
                    except (ValueError, RecursionError) as e:
                        log.warning("holder file %s: skipped a line that is not a holder (a crash while writing it?): %s", path, e)
                        continue
                    if isinstance(h, dict) and h.get("released") is True:
                        self.lease.holder = None
                    elif (isinstance(h, dict) and isinstance(h.get("campaign_id"), str) and h["campaign_id"]
                          and isinstance(h.get("key"), str) and _is_time(h.get("since")) and _is_time(h.get("until"))):
                        self.lease.holder = {k: h[k] for k in ("campaign_id", "key", "since", "until")}
                    else:
                        log.warning("holder file %s: skipped a line that is not a holder (a crash while writing it?)", path)
        except FileNotFoundError:
            return
        if lines > 1 or torn:
            # Compacted to its current line (as the C++ SDK does) at start, and past
            # HOLDER_COMPACT_BYTES while running (_save_holder).
            held = self.lease.current(time.time())
            self._rewrite_holder(path, held if held is not None else {"released": True})
        self.lease.saved()
        if self.lease.current(time.time()) is not None:
            log.info("restored the holder from %s: %s", path, self.lease.busy_message(time.time()))

    @staticmethod
    def _rewrite_holder(path: str, line: dict[str, Any]) -> None:
        """Replaces the holder file by `line` alone: a temporary file, fsynced, renamed over it, then
        the folder fsynced. Should the rename not survive a power cut, the old file, whose last line
        was fsynced before, gives the same holder."""
        temporary = path + ".compacting"
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
        try:
            folder = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        except OSError:
            pass  # a filesystem that cannot fsync a folder: the rename is atomic all the same

    def _save_holder(self) -> None:
        if self.lease is None or not self.lease.dirty:
            return
        if self.holder_path:
            held = self.lease.current(time.time())
            line = held if held is not None else {"released": True}
            try:
                with open(self.holder_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(line) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                    size = os.fstat(f.fileno()).st_size
            except OSError as e:
                self._log_limited("holder file", logging.ERROR, "cannot write the holder file %s: %s (kept in memory only)",
                                  self.holder_path, e)
            else:
                if size > HOLDER_COMPACT_BYTES:
                    try:
                        self._rewrite_holder(self.holder_path, line)
                    except OSError as e:
                        self._log_limited("holder file", logging.ERROR, "cannot compact the holder file %s: %s (the holder "
                                          "is saved, but the file grows)", self.holder_path, e)
        self.lease.saved()

    # -- result cache on disk: JSON lines, each a final result message plus a "params" member
    #    holding the params of its run (lines of older SDKs have none); last line for an id wins.

    def _load_cache(self, path: str, stamp: dict[str, Any]) -> None:
        try:
            with open(path, "ab+") as raw:
                # A crash mid-append leaves a torn last line without its newline; end it, so the
                # next result starts a line of its own instead of being glued to the fragment.
                # A new file starts with the stamp of what writes it.
                size = raw.seek(0, os.SEEK_END)
                if size == 0:
                    raw.write(_encode(stamp) + b"\n")
                else:
                    raw.seek(-1, os.SEEK_END)
                    if raw.read(1) != b"\n":
                        raw.write(b"\n")
                raw.flush()
                os.fsync(raw.fileno())
            stamped = False
            with open(path, "rb") as f:
                for number, line in enumerate(f, 1):
                    # A stamp is short; a long first line is a result, checked below.
                    if number == 1 and len(line) < 4096 and line.endswith(b"\n") and b'"cache_of"' in line:
                        stamped = self._check_stamp(path, line, stamp)
                        if stamped:
                            continue
                    if _too_deep(line):
                        log.warning("result cache %s: skipped line %d nested deeper than %d levels",
                                    path, number, MAX_MESSAGE_DEPTH)
                        continue
                    try:
                        msg = json.loads(line.decode("utf-8", errors="replace"), parse_constant=_reject_constant)
                    except (ValueError, RecursionError):
                        continue  # a torn last line after a crash; skip it
                    if not (isinstance(msg, dict) and msg.get("type") == "result" and _valid_id(msg.get("experiment"))):
                        continue
                    if _has_lone_surrogate(msg):  # could never be sent back
                        log.warning("result cache %s: skipped line %d holding a string that is not valid Unicode", path, number)
                        continue
                    params = msg.pop("params", None)
                    if params is not None and not isinstance(params, dict):
                        log.warning("result cache %s: skipped line %d whose params are not an object", path, number)
                        continue
                    if len(line) > MAX_MESSAGE_BYTES and len(_encode_any(msg)) > MAX_MESSAGE_BYTES:
                        # Written by an SDK that sent results of any size: never sent again (the
                        # controller discards it as too_large), so the experiment runs anew if asked.
                        log.warning("result cache %s: skipped line %d, a result over the %d bytes (1 MiB) a message may be",
                                    path, number, MAX_MESSAGE_BYTES)
                        continue
                    self.cache[msg["experiment"]] = _Finished(msg, params, None)
        except FileNotFoundError:
            return
        if not stamped and size > 0:
            log.warning("result cache %s has no stamp of what wrote it (an earlier version's): its results are answered only "
                        "to runs within this instrument's limits", path)
        log.info("loaded %d cached results from %s", len(self.cache), path)

    @staticmethod
    def _check_stamp(path: str, line: bytes, stamp: dict[str, Any]) -> bool:
        """True for this configuration's stamp, False for a first line that is no stamp; raises
        for another configuration's."""
        try:
            found = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):
            return False
        if not (isinstance(found, dict) and "cache_of" in found):
            return False
        of = found["cache_of"] if isinstance(found["cache_of"], dict) else {}
        want = stamp["cache_of"]
        if of.get("driver") == want["driver"] and of.get("welcome_sha256") == want["welcome_sha256"]:
            return True
        writer = (f"{want['driver']} with other inputs, outputs or options" if of.get("driver") == want["driver"]
                  else f"driver {_fmt(of.get('driver'))}")
        raise ValueError(f"result cache {path} was written by another configuration ({writer}): its results are not this "
                         "instrument's. Use another cache file (--cache), or delete this one if its results are no longer needed")

    def _persist(self, msg: dict[str, Any], params: dict[str, Any]) -> None:
        if not self.cache_path:
            return
        try:
            with open(self.cache_path, "a", encoding="utf-8") as f:
                f.write(_encode({**msg, "params": params}).decode("utf-8") + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:  # a full disk must not stop the instrument answering
            log.error("cannot persist result cache to %s: %s", self.cache_path, e)
        except Exception:  # nor a result that cannot be encoded: it stays cached in memory
            log.exception("cannot persist the result of %s to %s; it is kept in memory only", msg.get("experiment"), self.cache_path)

    def _log_limited(self, kind: str, level: int, fmt: str, *args: Any) -> None:
        """A line a peer can make this driver write once per message: at most once a second per kind (_LineLimiter)."""
        self._limited.log(kind, level, fmt, *args)

    # -- wake-up pipe: workers and signal handlers poke the main loop --------------------------

    def _wake(self) -> None:
        try:
            os.write(self.wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # pipe full means a wake-up is already pending

    def request_stop(self, *_: Any) -> None:
        self.stopping.set()
        self._wake()

    # -- main loop ------------------------------------------------------------------------------

    def serve(self, ready: Callable[[str], None] | None, install_signal_handlers: bool) -> None:
        ctx = zmq.Context()
        auth = None
        if self.keys is not None:
            # ZAP on inproc://zeromq.zap.01 of this context, started before bind.
            auth = zmq.auth.thread.ThreadAuthenticator(ctx, log=logging.getLogger("labloop_driver.zap"))
            auth.start()
            auth.configure_curve_callback("*", credentials_provider=_AllowList(self.allowed_keys or "", self._limited))
        sock = ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 1000)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # an undeliverable reply is said, not silently dropped (_send)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
        if self.keys is not None:
            sock.curve_publickey, sock.curve_secretkey = self.keys
            sock.curve_server = True
        # Clients refused before the access check (the allow-list logs its own refusals, with
        # the key): a plaintext client, or one encrypting to another server key. Started before
        # bind so no handshake is missed.
        monitor = None
        if self.keys is not None:
            monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        old_handlers: dict[int, Any] = {}
        try:
            sock.bind(self.endpoint)
            bound = sock.getsockopt_string(zmq.LAST_ENDPOINT) or self.endpoint
            if install_signal_handlers and threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGINT, signal.SIGTERM):
                    old_handlers[sig] = signal.signal(sig, self.request_stop)
            if ready is not None:
                ready(bound)
            log.info("serving %s %s on %s", self.info["driver"], self.info["version"], bound)
            poller = zmq.Poller()
            poller.register(sock, zmq.POLLIN)
            poller.register(self.wake_r, zmq.POLLIN)
            if monitor is not None:
                poller.register(monitor, zmq.POLLIN)
            while not self.stopping.is_set():
                events = dict(poller.poll(250))  # timeout only to notice an external stop_event
                if self.wake_r in events:
                    self._drain_wake()
                if monitor is not None and monitor in events:
                    _log_handshake_failures(monitor, self._limited)
                self._flush_done(sock)
                if sock in events:
                    for _ in range(1000):  # bounded so finished results are not starved
                        try:
                            raw = sock.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        self._key = self._authenticated_key(raw[-1])
                        self._handle(sock, [f.bytes for f in raw])
            self._shutdown(sock)
        finally:
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
            if monitor is not None:
                sock.disable_monitor()
                monitor.close(linger=0)
            sock.close(linger=1000)
            if auth is not None:
                auth.stop()
            ctx.term()
            os.close(self.wake_r)
            os.close(self.wake_w)

    @staticmethod
    def _authenticated_key(frame: zmq.Frame) -> str:
        """The connection's controller key as its fingerprint: pyzmq's authenticator gives the Z85
        key as User-Id (the C++ SDK's ZAP handler the fingerprint itself); "" on plaintext."""
        try:
            user = frame.get("User-Id")
        except (zmq.ZMQError, KeyError, ValueError):
            return ""
        if not user:
            return ""
        return user if user.startswith("curve:") else key_fingerprint(user.encode("ascii", errors="replace"))

    def _drain_wake(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _shutdown(self, sock: zmq.Socket) -> None:
        # Stop every experiment, give workers a bounded time to bring hardware to a safe state,
        # and tell the controller what happened to each.
        jobs = list(self.running.values())
        for job in jobs:
            job.shutdown = True
            job.stop.set()
        deadline = time.monotonic() + self.shutdown_timeout
        for job in jobs:
            if job.thread is not None:
                job.thread.join(max(0.0, deadline - time.monotonic()))
        self._flush_done(sock)
        for job in self.running.values():
            log.error("experiment %s did not stop within %.1f s of shutdown", job.exp_id, self.shutdown_timeout)
        if self._cache_lock is not None:
            self._cache_lock.close()  # the next driver on this cache may start
            self._cache_lock = None
        log.info("stopped")

    def _flush_done(self, sock: zmq.Socket) -> None:
        while True:
            try:
                job, msg = self.done.get_nowait()
            except queue.Empty:
                return
            self.running.pop(job.exp_id, None)
            if job.shutdown and job.goes_on is not None and not job.aborted:
                # The instrument still has it: no answer, so the controller asks this driver again
                # once it is back, instead of running it a second time under another id.
                log.warning("%s is left to the instrument, which goes on with it (%s): not answered, so a controller that "
                            "sends the same run to this driver restarted gets its result", job.exp_id, job.goes_on)
                continue
            if not job.shutdown:
                # An experiment cut short by our own shutdown is no verdict on the experiment:
                # it is reported but not cached, so a restarted driver runs it if asked again.
                owner = (job.envelope[0], job.key) if job.envelope is not None else None
                self.cache[job.exp_id] = _Finished(msg, job.sent_params, owner)
                self._persist(msg, job.sent_params)
            if job.envelope is not None:
                self._send(sock, job.envelope, msg)

    def _send(self, sock: zmq.Socket, envelope: list[bytes], msg: Mapping[str, Any]) -> None:
        # Never blocks the loop that serves everyone. A reply ZeroMQ cannot take now (the
        # controller does not read and its queue is full) or cannot route (the controller is
        # gone; ROUTER_MANDATORY) is dropped but said: a result each time, other replies at most
        # once a second per reason, counting the rest. A result stays cached for the next ask.
        try:
            payload = _encode(msg)
            if len(payload) > MAX_MESSAGE_BYTES:
                # Made small enough where it is made (_fit, validate_describe); a frame over the
                # limit is discarded by the peer anyway, so never sent.
                log.error("a %s reply of %d bytes was not sent: a message is at most %d bytes (1 MiB); a driver bug, please report it",
                          _said(msg.get("type")), len(payload), MAX_MESSAGE_BYTES)
                return
            sock.send_multipart(envelope + [payload], zmq.NOBLOCK)
        except zmq.ZMQError as e:
            why = {zmq.EAGAIN: "its controller's queue is full (it is not reading)",
                   zmq.EHOSTUNREACH: "its controller is gone"}.get(e.errno, str(e))
            if msg.get("type") == "result":
                if msg.get("experiment") not in self.cache:  # cut short by our own shutdown: _flush_done kept none
                    log.warning("the result of %s was not delivered: %s. It is not cached (this driver is shutting down; no "
                                "verdict on the experiment): a controller that resumes sends it again, to this driver restarted "
                                "or another", msg.get("experiment"), why)
                    return
                log.warning("the result of %s was not delivered: %s. It stays cached, and is sent again when that "
                            "controller asks (its next ping, or the same run)", msg.get("experiment"), why)
                return
            self._log_limited("undelivered: " + why, logging.WARNING, "a reply was not delivered: %s", why)
        except Exception:  # one unsendable reply must not stop the instrument serving everyone else
            log.exception("could not encode a %r reply; it was not sent", msg.get("type"))

    def _handle(self, sock: zmq.Socket, frames: list[bytes]) -> None:
        if len(frames) < 2:
            return  # identity only: nothing to answer
        # [identity, payload] from DEALER; [identity, b"", payload] from REQ. Echo the envelope.
        envelope, payload = frames[:-1], frames[-1]
        self._note_identity_key(envelope[0])
        try:
            reply = self._dispatch(envelope, payload)
        except Exception as e:  # a driver bug must not kill the instrument's connection
            log.exception("internal error while handling a message")
            reply = _error("internal", f"{type(e).__name__}: {e}"[:MAX_ERROR_CHARS])
        if reply is not None:
            self._send(sock, envelope, reply)

    def _note_identity_key(self, identity: bytes) -> None:
        """A routing identity is the client's choice, the key is what it authenticated with
        (section 12): once an identity speaks with another key, it is another controller, and the
        experiments the old one ran there must not send it their results."""
        for job in self.running.values():
            if job.envelope is not None and job.envelope[0] == identity and job.key != self._key:
                job.envelope = None
                log.warning("experiment %s: its routing identity now speaks with another controller key (%s, not %s); "
                            "its result is kept for a matching run", job.exp_id, self._key or "none", job.key or "none")

    def _dispatch(self, envelope: list[bytes], payload: bytes) -> dict[str, Any] | None:
        if len(payload) > MAX_MESSAGE_BYTES:
            return _error("too_large", f"message of {len(payload)} bytes exceeds {MAX_MESSAGE_BYTES}")
        # docs/protocol.md section 2 orders the checks size, byte-order mark, depth, as the C++ SDK
        # does: a frame failing both is bad_json from either SDK, never too_deep from one of them.
        if payload.startswith(b"\xef\xbb\xbf"):
            return _error("bad_json", "not valid UTF-8 JSON: a byte-order mark is not allowed")
        if _too_deep(payload):
            return _error("too_deep", f"message nested deeper than {MAX_MESSAGE_DEPTH} levels")
        try:
            msg = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant, parse_float=_parse_float,
                             parse_int=_parse_int, object_pairs_hook=_unique_keys)
        except _NumberTooLarge as e:
            return _error("bad_json", str(e))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            return _error("bad_json", f"not valid UTF-8 JSON: {e}")
        # Before anything reads the message: a campaign_id or experiment id that cannot be
        # written back would poison every reply, the cache and the holder file.
        if b"\\u" in payload and _has_lone_surrogate(msg):
            return _error("bad_json", "not valid UTF-8 JSON: a string holds an unpaired surrogate escape (\\ud800 to "
                                      "\\udfff come only as a high-low pair); send valid Unicode text")
        if not isinstance(msg, dict):
            return _error("bad_json", "message is not a JSON object")
        if "v" not in msg:
            return _error("bad_version", f"missing \"v\"; this driver speaks protocol {PROTOCOL_VERSION}")
        if not _is_number(msg["v"]) or msg["v"] != PROTOCOL_VERSION:
            return _error("bad_version",
                          f"unsupported protocol version {_fmt(msg['v'])}; this driver speaks {PROTOCOL_VERSION}")
        mtype = msg.get("type")
        if not isinstance(mtype, str):
            return _error("bad_message", "missing or non-string \"type\"")
        if mtype == "hello":
            return self._on_hello(envelope, msg)
        if mtype == "release":
            return self._on_release(msg)
        if mtype == "run":
            if not self._admits(envelope):
                return self._busy("run", msg.get("experiment") if _valid_id(msg.get("experiment")) else None)
            return self._on_run(envelope, msg)
        if mtype == "ping":
            self._admits(envelope)  # the holder's heartbeat renews its lease; anyone may ping
            return self._on_ping()
        if mtype == "abort":
            if not self._admits(envelope):
                return self._busy("abort", msg.get("experiment") if _valid_id(msg.get("experiment")) else None)
            return self._on_abort(envelope, msg)
        if mtype == "error":
            # Never answer an error with an error: two peers could ping-pong forever.
            self._log_limited("error", logging.WARNING, "controller reported error %s: %s", _said(msg.get("code")), _said(msg.get("message")))
            return None
        return _error("unknown_type", f"unknown message type {_fmt(mtype)}")

    def _on_hello(self, envelope: list[bytes], msg: dict[str, Any]) -> dict[str, Any]:
        self._log_limited("hello", logging.INFO, "hello from %s (campaign %s)", _said(msg.get("controller")), _said(msg.get("campaign")))
        welcome = {"v": PROTOCOL_VERSION, "type": "welcome", **self.info}
        # Checked with or without exclusive control (section 4.1), as the C++ SDK does; only a
        # string is a campaign id, anything else is an old or foreign controller's field.
        campaign_id = msg.get("campaign_id")
        if isinstance(campaign_id, str) and not 1 <= len(campaign_id) <= MAX_CAMPAIGN_ID_CHARS:
            return _error("bad_message", f"hello: \"campaign_id\" must be 1 to {MAX_CAMPAIGN_ID_CHARS} characters")
        if self.lease is None:
            return welcome
        claim = (campaign_id, self._key) if isinstance(campaign_id, str) else None
        # This hello replaces whatever the peer claimed before; only an accepted claim is kept.
        self.peers.pop(envelope[0], None)
        now = time.time()
        if claim is None:  # an old controller: served while free, never holds the instrument
            return welcome if self.lease.admit(None, now) else self._busy("hello", None)
        taken = self.lease.take(claim, now)
        self._save_holder()
        if taken == "refused":
            return self._busy("hello", None)
        self._remember_peer(envelope[0], claim, now)
        held = self.lease.current(now)
        assert held is not None
        self._log_limited("held", logging.INFO, "campaign %s %s this instrument until %s", claim[0],
                          "holds" if taken == "taken" else "took back", _utc(held["until"]))
        welcome["holder"] = {"campaign_id": held["campaign_id"], "since": _utc(held["since"]), "until": _utc(held["until"])}
        if held["key"]:
            welcome["holder"]["controller"] = held["key"]
        return welcome

    def _on_release(self, msg: dict[str, Any]) -> dict[str, Any]:
        campaign_id = msg.get("campaign_id")
        if not isinstance(campaign_id, str) or not 1 <= len(campaign_id) <= MAX_CAMPAIGN_ID_CHARS:
            return _error("bad_message", f"release: \"campaign_id\" must be a string of 1 to {MAX_CAMPAIGN_ID_CHARS} characters")
        if self.lease is not None:
            outcome = self.lease.release((campaign_id, self._key), time.time())
            self._save_holder()
            if outcome == "refused":
                return self._busy("release", None)
            if outcome == "released":
                self._log_limited("released", logging.INFO, "campaign %s released this instrument", campaign_id)
        return {"v": PROTOCOL_VERSION, "type": "released", "campaign_id": campaign_id}

    def _remember_peer(self, identity: bytes, claim: tuple[str, str], now: float) -> None:
        """Bounded: when full, the least recently heard peer not holding the instrument is
        forgotten (it is asked for a hello again through `busy`); the holder's never are while
        others remain."""
        if len(self.peers) >= MAX_PEERS:
            held = self.lease.current(now) if self.lease is not None else None
            holder = (held["campaign_id"], held["key"]) if held is not None else None
            victim = next((k for k, c in self.peers.items() if c != holder), next(iter(self.peers)))
            del self.peers[victim]
        self.peers[identity] = claim

    def _claim_of(self, identity: bytes) -> tuple[str, str] | None:
        """What this peer claimed in its last hello, if made with the key of the message being
        handled: another controller reusing the routing identity has said no hello of its own."""
        claim = self.peers.get(identity)
        if claim is not None and claim[1] != self._key:
            self._log_limited("identity", logging.WARNING, "a controller with key %s uses the routing identity of campaign %s's "
                              "controller (key %s): treated as one that said no hello", self._key or "none", claim[0], claim[1] or "none")
            del self.peers[identity]
            return None
        if claim is not None:
            self.peers.move_to_end(identity)
        return claim

    def _admits(self, envelope: list[bytes]) -> bool:
        if self.lease is None:
            return True
        admitted = self.lease.admit(self._claim_of(envelope[0]), time.time())
        self._save_holder()
        return admitted

    def _busy(self, what: str, experiment: str | None) -> dict[str, Any]:
        assert self.lease is not None
        message = self.lease.busy_message(time.time())
        self._log_limited("busy", logging.WARNING, "refused a %s from a controller that does not hold this instrument: %s", what, message)
        return _error("busy", message, experiment)

    def _on_ping(self) -> dict[str, Any]:
        pong: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "pong", "running": list(self.running)}
        progress = {k: j.progress for k, j in self.running.items() if j.progress is not None}
        if progress:
            pong["progress"] = progress
        return pong

    def _on_run(self, envelope: list[bytes], msg: dict[str, Any]) -> dict[str, Any]:
        exp_id = msg.get("experiment")
        if not _valid_id(exp_id):
            return _error("bad_message", f"\"experiment\" must be a string of 1-{MAX_EXPERIMENT_ID_CHARS} characters")
        params = msg.get("params")
        if not isinstance(params, dict):
            return _error("bad_message", "\"params\" must be an object", exp_id)
        # Checked before the cache and the running experiments are asked: an answer from them is
        # this instrument's only for params it would run now (a cache of an earlier version,
        # written under other limits, must not answer outside them).
        try:
            clean = validate_params(self.info["inputs"], params)
        except ParamError as e:
            return {"v": PROTOCOL_VERSION, "type": "rejected", "experiment": exp_id, "reason": str(e)}
        # A repeat is answered from state only when it asks for the same experiment: the same
        # params, compared as JSON values. Another campaign reusing the id, or a stray client,
        # gets "conflict" and nothing else.
        finished = self.cache.get(exp_id)
        if finished is not None:
            if finished.params is not None and not self._same_params(msg, finished.params):
                return self._conflict(msg, exp_id, "already ran", finished.params)
            finished.owner = (envelope[0], self._key)
            return finished.result
        job = self.running.get(exp_id)
        if job is not None:
            if not self._same_params(msg, job.sent_params):
                return self._conflict(msg, exp_id, "is running", job.sent_params)
            job.envelope, job.key = envelope, self._key
            return job.accepted
        if len(self.running) >= self.capacity:
            return {"v": PROTOCOL_VERSION, "type": "rejected", "experiment": exp_id,
                    "reason": f"busy: {len(self.running)}/{self.capacity} experiments running"}
        accepted: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "accepted", "experiment": exp_id}
        accepted.update(self._estimate(exp_id, clean))
        job = _Job(exp_id, clean, params, envelope, self._key, accepted)
        self.seq += 1
        job.thread = threading.Thread(target=self._work, args=(job, self.seq),
                                      name=f"labloop-run-{exp_id}", daemon=True)
        self.running[exp_id] = job
        job.thread.start()
        # The `accepted` is sent by our caller before the main loop can flush this job's result,
        # so the controller always sees accepted before result.
        return accepted

    def _estimate(self, exp_id: str, params: dict[str, Any]) -> dict[str, float]:
        """The usable part of driver.estimate(): expected_s and max_s when each is a finite number
        >= 0. Whatever else it gives (a tuple, a string for a number, an exception) accepts the run
        without that estimate: a slip in an optional hint must not cost the run (a tuple once made
        every run an `internal` error naming no experiment, and nothing ran)."""
        t0 = time.monotonic()
        try:
            est = self.driver.estimate(dict(params))
        except Exception as e:  # noqa: BLE001 - an optional hint: its failure must not cost the run
            # With its traceback the first time per exception type; then a line at most once a
            # second, since each run a peer sends could raise it again.
            if f"raised {type(e).__name__}" not in self._estimate_said and len(self._estimate_said) < 64:
                self._estimate_said.add(f"raised {type(e).__name__}")
                log.exception("estimate() failed for %s; accepting without an estimate", exp_id)
            else:
                self._log_limited("estimate failed", logging.WARNING, "estimate() failed for %s: %s; accepting without an estimate",
                                  exp_id, _exception_text(e)[:200])
            est = None
        took = time.monotonic() - t0
        if took > SLOW_ESTIMATE_S:
            # estimate() runs on the one thread that answers every peer: while it runs no ping is
            # answered, and the controller takes a driver silent for about 5 s as lost.
            self._log_limited("slow estimate", logging.WARNING, "estimate() for %s took %.2f s (more than %.1f s); it runs on the thread that "
                              "answers ping and hello, which waited meanwhile (a controller takes a driver silent for about 5 s as "
                              "lost): make estimate() return at once from the params alone, without talking to the instrument",
                              exp_id, took, SLOW_ESTIMATE_S)
        if est is None:
            return {}
        out: dict[str, float] = {}
        try:
            if not isinstance(est, Mapping):
                self._say_estimate_once(f"returned {type(est).__name__}", "estimate() returned %s, not a dict such as "
                                        "{\"expected_s\": 120.0, \"max_s\": 600.0}; runs are accepted without an estimate",
                                        _fmt_any(est))
                return {}
            for key, val in est.items():
                if key not in ("expected_s", "max_s"):
                    self._say_estimate_once(f"key {key!r}", "estimate() returned the key %s, which is neither expected_s nor max_s: "
                                            "ignored", _fmt_any(key))
                elif val is None:
                    continue  # absent, as null is in an optional field
                elif not (_is_number(val) and _is_finite(val) and val >= 0):
                    self._say_estimate_once(f"{key} {type(val).__name__}", "estimate() gave %s=%s, not a finite number of "
                                            "seconds >= 0: accepted without it", key, _fmt_any(val))
                else:
                    out[key] = float(val)
        except Exception as e:  # noqa: BLE001 - a mapping whose items cannot be read: no estimate, the run goes on
            self._say_estimate_once(f"unreadable {type(e).__name__}", "estimate() returned a %s whose items cannot be read (%s); "
                                    "runs are accepted without an estimate", type(est).__name__, _exception_text(e))
            return {}
        return out

    def _say_estimate_once(self, cause: str, fmt: str, *args: Any) -> None:
        """Logs each way estimate() goes wrong once (the first run saying it; every run would repeat
        it), for a bounded number of ways."""
        if cause in self._estimate_said or len(self._estimate_said) >= 64:
            return
        self._estimate_said.add(cause)
        log.warning(fmt + " (said once)", *args)

    @staticmethod
    def _same_params(msg: dict[str, Any], stored: dict[str, Any]) -> bool:
        return "params" in msg and _same_json_value(msg["params"], stored)

    def _conflict(self, msg: dict[str, Any], exp_id: str, state: str, stored: dict[str, Any]) -> dict[str, Any]:
        self._log_limited("conflict", logging.WARNING, "conflict: rejected a run of %s with params %s: it %s with params %s", exp_id,
                          _brief(msg["params"]) if "params" in msg else "(none)", state, _brief(stored))
        return {"v": PROTOCOL_VERSION, "type": "rejected", "experiment": exp_id,
                "reason": f"conflict: experiment {exp_id} {state} with other parameters"}

    def _on_abort(self, envelope: list[bytes], msg: dict[str, Any]) -> dict[str, Any] | None:
        exp_id = msg.get("experiment")
        if not _valid_id(exp_id):
            return _error("bad_message", f"\"experiment\" must be a string of 1-{MAX_EXPERIMENT_ID_CHARS} characters")
        # Only the owner (the latest sender of a matching `run`) may stop an experiment or be
        # re-sent its result this way; to anyone else the experiment does not exist.
        finished = self.cache.get(exp_id)
        job = self.running.get(exp_id)
        if finished is None and job is None:
            return _error("unknown_experiment", f"no experiment {exp_id} is running or finished", exp_id)
        if finished is not None:
            owner = finished.owner
        else:
            owner = (job.envelope[0], job.key) if job.envelope is not None else None  # type: ignore[union-attr]
        if owner != (envelope[0], self._key):
            self._log_limited("abort", logging.WARNING, "ignored an abort of %s from a peer that did not run it", exp_id)
            return _error("unknown_experiment", f"no experiment {exp_id} was run by this peer", exp_id)
        if finished is not None:
            return finished.result
        job.envelope, job.key = envelope, self._key  # type: ignore[union-attr]
        job.aborted = True  # type: ignore[union-attr]
        job.stop.set()  # type: ignore[union-attr]
        return None  # the reply is the `result` (failed, "aborted") once run() has returned

    # -- worker ---------------------------------------------------------------------------------

    def _work(self, job: _Job, seq: int) -> None:
        # Whatever run() or its result does, a result is queued and the slot freed: a worker that
        # ended without one would leave the experiment in every pong, its capacity taken for good
        # and its abort unanswered.
        _current.job = job
        started_at = time.time()
        result: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "result", "experiment": job.exp_id, "status": "failed",
                                  "error": "driver bug: no result could be made", "meta": {"run_seq": seq, "started_at": started_at}}
        try:
            result = self._result_of(job, seq, started_at)
        except BaseException as e:  # noqa: BLE001 - a worker has no caller to hand it to
            text = _exception_text(e)
            log.error("experiment %s: no result could be made: %s", job.exp_id, text)
            if job.stop.is_set():
                result["error"] = "driver shutting down" if job.shutdown else "aborted"
            else:
                result["error"] = f"driver bug: no result could be made: {text}"[:MAX_ERROR_CHARS]
        finally:
            _current.job = None
            self.done.put((job, result))
            self._wake()

    def _result_of(self, job: _Job, seq: int, started_at: float) -> dict[str, Any]:
        t0 = time.monotonic()
        result: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "result", "experiment": job.exp_id}
        user_meta: Any = None
        try:
            ret = self.driver.run_experiment(job.exp_id, dict(job.params), job.stop)
            if isinstance(ret, tuple) and len(ret) == 2:
                ret, user_meta = ret
            if not job.stop.is_set():
                result.update(status="ok", values=self._check_values(ret))
        except BaseException as e:  # noqa: BLE001 - sys.exit() in vendor code fails its experiment, not the driver
            text = _exception_text(e) if isinstance(e, Exception) else f"run() raised {_exception_text(e)}"
            if isinstance(e, ExperimentGoesOn):
                job.goes_on = text[:MAX_ERROR_CHARS]
            if not job.stop.is_set():
                if isinstance(e, Exception):
                    log.info("experiment %s failed: %s", job.exp_id, text)
                else:
                    log.warning("experiment %s failed: %s; the driver goes on serving", job.exp_id, text)
            result.update(status="failed", error=text[:MAX_ERROR_CHARS])
        if job.stop.is_set():
            said = result.get("error")
            result.pop("values", None)
            result.update(status="failed", error="driver shutting down" if job.shutdown else "aborted")
            # e.g. a driver that could not leave its instrument safe; not one whose instrument goes
            # on with it at shutdown: nothing is sent for that one, and _flush_done says so.
            if said and said != result["error"] and not (job.shutdown and job.goes_on is not None and not job.aborted):
                log.warning("experiment %s %s; the driver said: %s", job.exp_id, result["error"], said)
        meta: dict[str, Any] = {}
        if isinstance(user_meta, Mapping):
            meta.update(user_meta)
        meta.update(run_seq=seq, started_at=started_at, duration_s=round(time.monotonic() - t0, 6))
        result["meta"] = meta
        self._fit(job, result)
        return result

    def _fit(self, job: _Job, result: dict[str, Any]) -> None:
        """Makes `result` a message that can be sent: JSON, at most MAX_MESSAGE_BYTES (1 MiB,
        docs/protocol.md section 7). A larger one is discarded by the controller as too_large,
        which then sends the run again: the instrument measured the same setting three times, and
        the oversized result was cached and re-sent. What goes first, until it fits: the driver's
        meta, then the values of outputs describe() does not declare (the declared ones are what
        the campaign uses); if it still does not fit, the experiment fails saying so."""
        try:
            size = len(_encode(result))
            if size <= MAX_MESSAGE_BYTES:
                return
            why = f"the result is {size} bytes with it; a message is at most {MAX_MESSAGE_BYTES} bytes (1 MiB)"
        except (TypeError, ValueError, RecursionError) as e:  # RecursionError: meta nested past what json can write
            why = str(e)
        own = {k: result["meta"][k] for k in ("run_seq", "started_at", "duration_s") if k in result["meta"]}
        if own != result["meta"]:  # the driver's own meta; the SDK's three numbers are never the cause
            log.error("experiment %s: meta dropped: %s", job.exp_id, why)
            result["meta"] = own
        try:
            size = len(_encode(result))
        except (TypeError, ValueError, RecursionError) as e:
            # Values that cannot be sent (an output name that is not valid Unicode) must
            # still give the controller a final answer rather than none.
            log.error("experiment %s: result cannot be encoded: %s", job.exp_id, e)
            result.pop("values", None)
            result.update(status="failed", error=f"driver bug: its result cannot be encoded as JSON ({e})"[:MAX_ERROR_CHARS])
            return
        values = result.get("values")
        if size > MAX_MESSAGE_BYTES and isinstance(values, dict):
            declared = set(self.info["outputs"])
            extra = [name for name in values if name not in declared]
            if extra:
                result["values"] = {name: v for name, v in values.items() if name in declared}
                shown = ", ".join(_fmt(name) for name in extra[:5]) + (", ..." if len(extra) > 5 else "")
                log.error("experiment %s: the result is %d bytes, over the %d bytes (1 MiB) a message may be: sent with its %d declared "
                          "output(s) only, the values of %d output(s) describe() does not declare dropped (%s). Keep large data such as "
                          "spectra out of the result (a file named after the experiment), or declare what the campaign needs",
                          job.exp_id, size, MAX_MESSAGE_BYTES, len(result["values"]), len(extra), shown)
                size = len(_encode(result))
        if size > MAX_MESSAGE_BYTES:
            error = (f"the result is {size} bytes; a message is at most {MAX_MESSAGE_BYTES} bytes (1 MiB, docs/protocol.md section 7), "
                     f"so it cannot be sent: return fewer or shorter-named outputs")
            log.error("experiment %s failed: %s", job.exp_id, error)
            result.pop("values", None)
            result.update(status="failed", error=error)

    def _check_values(self, ret: Any) -> dict[str, float | int]:
        # Failing here (not sending a half-valid "ok") keeps the controller's data clean.
        if not isinstance(ret, Mapping):
            raise ValueError(f"driver bug: run() returned {type(ret).__name__}, not a dict of outputs")
        values: dict[str, float | int] = {}
        for name, v in ret.items():
            if not isinstance(name, str):
                raise ValueError(f"driver bug: output name {name!r} is not a string")
            if not _is_number(v):
                raise ValueError(f"output {name}={_fmt(v)} is not a number")
            if not math.isfinite(v):
                raise ValueError(f"output {name} is {v} (not finite)")
            values[name] = v
        missing = [o for o in self.info["outputs"] if o not in values]
        if missing:
            raise ValueError(f"missing output(s): {', '.join(missing)}")
        return values


def serve(driver: Driver, endpoint: str, *, cache_path: str | None = None,
          ready: Callable[[str], None] | None = None, install_signal_handlers: bool = True,
          shutdown_timeout: float = 5.0, stop_event: threading.Event | None = None,
          key_path: str | None = None, allowed_keys: str | None = None, require_encryption: bool = False,
          exclusive: bool = False, lease_s: float = 3600.0, results_depend_on: Any = None) -> None:
    """Bind a ROUTER at `endpoint` and serve protocol v1 until SIGINT/SIGTERM or `stop_event`.

    cache_path: optional JSON-lines file; finished results are appended (each line the result
        plus a "params" member: the params of its run) and reloaded at start, so a restarted
        driver still answers a repeated `run` with the same params from its cache. A new file's
        first line stamps it with the driver and a SHA-256 of what decides its results; a file
        stamped by another driver or configuration is refused (ValueError). Files of the C++ SDK
        are the same; files of older versions (no stamp) load, and their lines without "params"
        are answered by id. Every `run` is checked against the limits before the cache is asked.
    results_depend_on: what decides the results besides their params and describe(): options the
        driver was started with that change what it measures (a calibration, a simulated
        function), as plain JSON. Part of the cache stamp; None when describe() says it all.
    ready: called with the bound endpoint once the socket is bound (e.g. to print a banner).
    install_signal_handlers: SIGINT/SIGTERM stop serving cleanly (main thread only).
    shutdown_timeout: seconds to wait for running experiments after `stop` is set on them.
    stop_event: set it from another thread to stop serving.
    key_path, allowed_keys: CurveZMQ encryption and authentication (docs/security.md): this
        driver's key pair ("keys/NAME" or its .key, from `labloop keys new`; the secret must be
        mode 0600) and the controllers allowed to connect (a .pub file or a directory of them),
        re-read at every handshake so a revoked key is refused from its next connection. Both or
        neither. A plaintext client or an unlisted key is refused during the handshake and logged
        with the key's fingerprint.
    require_encryption: raise instead of serving in plain text when no key pair is given.
    exclusive: one campaign at a time (docs/protocol.md section 12). A hello with a "campaign_id"
        takes the instrument when it is free, expired, or already that campaign's (with the same
        controller key on an encrypted link: a resume); anyone else's hello, run and abort gets
        `error busy` naming the holder. The holder's messages renew its lease of `lease_s`
        seconds; `release` ends it. With cache_path the holder is kept in cache_path + ".holder".
    Returns normally after a clean stop; raises if the endpoint cannot be bound.
    """
    _Server(driver, endpoint, cache_path, shutdown_timeout, stop_event,
            key_path, allowed_keys, require_encryption, exclusive, lease_s, results_depend_on).serve(ready, install_signal_handlers)
