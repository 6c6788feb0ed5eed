"""Joining a Ray cluster for ``melfoley batch --ray``, refusing within seconds what cannot work.

``connect(spec, workers)``: ``auto`` (``RAY_ADDRESS``, or the cluster ``ray start`` made on this
machine), ``HOST:PORT`` (a head node's GCS address) or ``local`` (a private one-machine cluster,
started here on 127.0.0.1 and stopped with the run). Before ``ray.init`` (which waits minutes on
a wrong address) the address is tried: a TCP connection, then an HTTP/2 handshake, as a Ray
head node's gRPC server answers. Loopback addresses stay loopback (Ray would otherwise swap
127.0.0.1 for the LAN address and listen there).
"""

from __future__ import annotations

import os
import socket

from ..core.errors import FarmError

CONNECT_TIMEOUT_S = 3.0


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _split(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise FarmError(f"--ray {address!r}: give the head node's address as HOST:PORT (e.g. 10.0.0.1:6379), "
                        "'auto' for the cluster started on this machine, or 'local'")
    return host.strip("[]"), int(port)


def _probe_gcs(address: str) -> None:
    """Refuse within seconds what ``ray.init`` would wait on for minutes: nothing listening, or a
    server that does not speak gRPC (HTTP/2) as a Ray head node does."""
    host, port = _split(address)
    try:
        conn = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:
        raise FarmError(f"no Ray cluster at {address} ({exc.strerror or type(exc).__name__}): start one with "
                        f"`ray start --head --port {port}` on that node, or check the address") from None
    with conn:
        try:
            conn.settimeout(CONNECT_TIMEOUT_S)
            conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            head = conn.recv(9)
        except OSError:
            head = b""
    if len(head) < 9 or head[3] != 0x04:  # an HTTP/2 server opens with a SETTINGS frame
        raise FarmError(f"{address} answers, but not as a Ray head node (no gRPC there): give the port that "
                        "`ray start --head` printed (default 6379)")


def _resolve(spec: str) -> str | None:
    """The GCS address to connect to, or None for a private local cluster."""
    if spec == "local":
        return None
    if spec.startswith("ray://"):
        raise FarmError(f"--ray {spec}: Ray Client addresses are not supported; run the driver on a cluster node "
                        "with the GCS address (HOST:6379), or submit it with `ray job submit` (docs/farm.md)")
    if spec == "auto":
        env = os.environ.get("RAY_ADDRESS", "")
        if env and env != "auto":
            return env
        from ray._private import services

        try:
            found = services.find_gcs_addresses()
        except Exception:  # noqa: BLE001 - whatever Ray's lookup trips on, there is no cluster to use
            found = set()
        if not found:
            raise FarmError("--ray auto: no Ray cluster was started on this machine; run `ray start --head` "
                            "first, give the head node's HOST:PORT, or use --ray local")
        return sorted(found)[0]
    return spec


def _import_ray():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise FarmError("--ray needs Ray: pip install 'melfoley[farm]'") from None
    return ray


def _loopback_only() -> None:
    """Keep every Ray address on 127.0.0.1: Ray otherwise swaps a loopback node address for the LAN
    one (and binds there). Processes this one starts inherit the setting."""
    from ray._private import ray_constants

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


def connect(spec: str, workers: int | None):
    """Connect this process to the cluster ``spec`` (or start a private one); returns (ray, owned)."""
    ray = _import_ray()
    address = _resolve(spec)
    if _is_loopback("127.0.0.1" if address is None else _split(address)[0]):
        _loopback_only()
    if ray.is_initialized():
        return ray, False
    opts = {"include_dashboard": False, "log_to_driver": False, "logging_level": "WARNING",
            "configure_logging": True}
    if address is None:
        if "RAY_AUTH_MODE" not in os.environ:  # token auth, with a token of this run only (no file in ~/.ray)
            import secrets

            from ray._raylet import AuthenticationTokenLoader, Config

            os.environ["RAY_AUTH_MODE"] = "token"
            os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
            Config.initialize("")  # as Ray does when it turns token auth on: this process sees the mode
            AuthenticationTokenLoader.instance().reset_cache()
        ray.init(num_cpus=workers or os.cpu_count() or 1, _node_ip_address="127.0.0.1", **opts)
        return ray, True
    _probe_gcs(address)
    try:
        ray.init(address=address, **opts)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise FarmError(f"cannot join the Ray cluster at {address}: {ray_error_line(exc)}") from None
    return ray, True


def ray_error_line(exc: BaseException) -> str:
    """The innermost error of a Ray error (whose text is the remote traceback)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]
