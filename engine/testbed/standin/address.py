"""Where a stand-in listens, as esdbclient connection strings (in-process or own process)."""

from __future__ import annotations


class LoopbackAddress:
    """``host`` and ``_port`` are set by the subclass; the URLs follow from them."""

    host: str
    _port: int

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"esdb://{self.host}:{self._port}?Tls=false"

    @property
    def discover_url(self) -> str:
        """The same server as a discovery URI (esdbclient calls ``Gossip.Read`` first)."""
        return f"esdb+discover://{self.host}:{self._port}?Tls=false"
