"""ctypes declarations for libllmbill (include/llmbill/llmbill.h).

The library is found, in order, at $LLMBILL_LIBRARY (a path), by
ctypes.util.find_library("llmbill"), then as "libllmbill.so.0" on the
dynamic loader's path. Only llmbill_record_json() carries records, so no
struct llmbill_usage layout is copied here; the stats struct is
size-versioned (the library fills what both sides know).
"""
import ctypes
import ctypes.util
import os

OK = 0
EINVAL = -1
ENOMEM = -2
ECONFIG = -3
ELOAD = -4
EABI = -5
EFULL = -6
ECLOSED = -7
ETIMEDOUT = -8
ERECURSIVE = -9
ENOTFOUND = -10
EIO = -11
ESINK = -12
ENOPRICE = -13
ESPOOL = -14
EFORKED = -15

EVENT_ID_BUFSZ = 256


class OpenOpts(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("plugin_dir", ctypes.c_char_p),
        ("log_cb", ctypes.c_void_p),
        ("log_ud", ctypes.c_void_p),
        ("errbuf", ctypes.c_char_p),
        ("errbuf_len", ctypes.c_size_t),
    ]


_U64, _U32, _I32 = ctypes.c_uint64, ctypes.c_uint32, ctypes.c_int32

# struct llmbill_stats, field for field (llmbill.h; append only)
_STATS_LAYOUT = [(name, _U64) for name in (
    "recorded", "delivered", "retried", "dead_lettered", "pending", "rejected_full",
    "rejected_invalid", "unpriced", "spooled", "spool_corrupt", "lost", "requests")] + [
    ("in_flight", _U32), ("last_status", _I32), ("requests_per_s", _U32),
    ("answer_p50_us", _U32), ("answer_p99_us", _U32), ("reserved2", _U32),
    ("quarantined", _U64), ("transport_errors", _U64), ("last_transport_error", _I32),
    ("reserved3", _U32)]

# the counters stats() returns (the reserved words are not)
STATS_FIELDS = tuple(name for name, _ in _STATS_LAYOUT if not name.startswith("reserved"))


class Stats(ctypes.Structure):
    _fields_ = [("struct_size", _U32), ("reserved", _U32)] + _STATS_LAYOUT


class PricingInfo(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("enabled", ctypes.c_uint32),
        ("file", ctypes.c_char_p),
        ("models", ctypes.c_uint64),
        ("unknown", ctypes.c_char_p),
    ]


def _find():
    explicit = os.environ.get("LLMBILL_LIBRARY")
    if explicit:
        return explicit
    return ctypes.util.find_library("llmbill") or "libllmbill.so.0"


def load():
    """Loads libllmbill and declares the calls used. Raises OSError when the
    library is not found or is older than the calls this package needs."""
    lib = ctypes.CDLL(_find())
    P, I, S, C = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t, ctypes.c_char_p
    decl = {
        "llmbill_version_string": (C, []),
        "llmbill_strerror": (C, [I]),
        "llmbill_last_error": (C, []),
        "llmbill_open": (I, [ctypes.POINTER(P), C, ctypes.POINTER(OpenOpts)]),
        "llmbill_open_string": (I, [ctypes.POINTER(P), C, ctypes.POINTER(OpenOpts)]),
        "llmbill_record_json": (I, [P, C, S, ctypes.c_char_p, S]),
        "llmbill_flush": (I, [P, I]),
        "llmbill_close": (I, [P]),
        "llmbill_get_stats": (I, [P, C, ctypes.POINTER(Stats)]),
        "llmbill_get_pricing_info": (I, [P, ctypes.POINTER(PricingInfo)]),
        "llmbill_sink_count": (S, [P]),
        "llmbill_sink_name": (C, [P, S]),
    }
    for name, (res, args) in decl.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise OSError("%s has no %s: it is older than this package" % (lib._name, name))
        fn.restype = res
        fn.argtypes = args
    return lib
